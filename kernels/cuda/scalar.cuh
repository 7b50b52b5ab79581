// symdl CUDA helpers for elementwise code: NumPy semantics for the scalar ops whose C meaning
// differs (integer floor division and modulo, float divmod, integer powers, NaN-propagating
// maximum/minimum, float-to-int casts as on x86), float16 storage, and the layout structs that
// kernels receive by value.
//
// The generated source inlines this file, so it is self-contained: no headers, and every
// function is inline.

#define SYMDL_DEV __device__ __forceinline__
#define SYMDL_MAXDIM 16  // symdl.backend.MAXDIM, as SD_MAXDIM in the C runtime

// A shape (nd entries used) and the strides, in elements, of one operand over that shape.
struct symdl_shape {
    long long nd;
    long long d[SYMDL_MAXDIM];
};
struct symdl_strides {
    long long s[SYMDL_MAXDIM];
};

// ---------------------------------------------------------------- float16 (stored as unsigned short)
#ifdef SYMDL_HOST_EMULATION
SYMDL_DEV float symdl_h2f(unsigned short h) { _Float16 v; __builtin_memcpy(&v, &h, 2); return (float)v; }
SYMDL_DEV unsigned short symdl_f2h(float f) { _Float16 v = (_Float16)f; unsigned short h; __builtin_memcpy(&h, &v, 2); return h; }
SYMDL_DEV unsigned short symdl_d2h(double f) { _Float16 v = (_Float16)f; unsigned short h; __builtin_memcpy(&h, &v, 2); return h; }
#else
SYMDL_DEV float symdl_h2f(unsigned short h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
SYMDL_DEV unsigned short symdl_f2h(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
SYMDL_DEV unsigned short symdl_d2h(double f) { unsigned short h; asm("cvt.rn.f16.f64 %0, %1;" : "=h"(h) : "d"(f)); return h; }
#endif
// A float16 result computed in float, rounded to float16 precision as NumPy would store it.
SYMDL_DEV float symdl_round_half(float f) { return symdl_h2f(symdl_f2h(f)); }

SYMDL_DEV float symdl_inff() { return __int_as_float(0x7f800000); }
SYMDL_DEV float symdl_nanf() { return __int_as_float(0x7fc00000); }
SYMDL_DEV double symdl_inf() { return __longlong_as_double(0x7ff0000000000000LL); }
SYMDL_DEV double symdl_nan() { return __longlong_as_double(0x7ff8000000000000LL); }

// ---------------------------------------------------------------- integer floor division, modulo
// NumPy: x // 0 == 0 and x % 0 == 0; MIN // -1 wraps to MIN; the result of % has the sign of y.
#define SYMDL_SIGNED_DIVMOD(T, U)                                                   \
    SYMDL_DEV T symdl_floor_div(T a, T b) {                                         \
        if (b == 0) return 0;                                                       \
        if (b == (T)-1) return (T)((U)0 - (U)a);                                    \
        T q = (T)(a / b);                                                           \
        if ((T)(a % b) != 0 && ((a < 0) != (b < 0))) q = (T)(q - 1);                \
        return q;                                                                   \
    }                                                                               \
    SYMDL_DEV T symdl_mod(T a, T b) {                                               \
        if (b == 0 || b == (T)-1) return 0;                                         \
        T r = (T)(a % b);                                                           \
        if (r != 0 && ((r < 0) != (b < 0))) r = (T)(r + b);                         \
        return r;                                                                   \
    }                                                                               \
    SYMDL_DEV T symdl_abs(T a) { return a < 0 ? (T)((U)0 - (U)a) : a; }             \
    SYMDL_DEV T symdl_sign(T a) { return (T)((a > 0) - (a < 0)); }                  \
    SYMDL_DEV T symdl_ipow(T base, T e) {                                           \
        if (e < 0) return base == 1 ? 1 : (base == -1 ? ((e & 1) ? -1 : 1) : 0);    \
        U r = 1, b = (U)base;                                                       \
        while (e) { if (e & 1) r *= b; b *= b; e = (T)(e >> 1); }                   \
        return (T)r;                                                                \
    }

#define SYMDL_UNSIGNED_DIVMOD(T)                                                    \
    SYMDL_DEV T symdl_floor_div(T a, T b) { return b == 0 ? 0 : (T)(a / b); }      \
    SYMDL_DEV T symdl_mod(T a, T b) { return b == 0 ? 0 : (T)(a % b); }            \
    SYMDL_DEV T symdl_abs(T a) { return a; }                                        \
    SYMDL_DEV T symdl_sign(T a) { return (T)(a > 0); }                              \
    SYMDL_DEV T symdl_ipow(T base, T e) {                                           \
        T r = 1;                                                                    \
        while (e) { if (e & 1) r = (T)(r * base); base = (T)(base * base); e = (T)(e >> 1); } \
        return r;                                                                   \
    }

SYMDL_SIGNED_DIVMOD(signed char, unsigned char)
SYMDL_SIGNED_DIVMOD(short, unsigned short)
SYMDL_SIGNED_DIVMOD(int, unsigned int)
SYMDL_SIGNED_DIVMOD(long long, unsigned long long)
SYMDL_UNSIGNED_DIVMOD(unsigned char)
SYMDL_UNSIGNED_DIVMOD(unsigned short)
SYMDL_UNSIGNED_DIVMOD(unsigned int)
SYMDL_UNSIGNED_DIVMOD(unsigned long long)

// ---------------------------------------------------------------- float divmod (npy_divmod)
#define SYMDL_FLOAT_HELPERS(T, FMOD, FLOOR, COPYSIGN, FABS, EXP, LOG1P)            \
    SYMDL_DEV T symdl_mod(T a, T b) {                                               \
        T mod = FMOD(a, b);                                                         \
        if (b == 0) return mod;                                                     \
        if (mod != 0) {                                                             \
            if ((b < 0) != (mod < 0)) mod += b;                                     \
        } else {                                                                    \
            mod = COPYSIGN((T)0, b);                                                \
        }                                                                           \
        return mod;                                                                 \
    }                                                                               \
    SYMDL_DEV T symdl_floor_div(T a, T b) {                                         \
        if (b == 0) return a / b;                                                   \
        T mod = FMOD(a, b);                                                         \
        T div = (a - mod) / b;                                                      \
        if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;                           \
        T floordiv;                                                                 \
        if (div != 0) {                                                             \
            floordiv = FLOOR(div);                                                  \
            if (div - floordiv > (T)0.5) floordiv += 1;                             \
        } else {                                                                    \
            floordiv = COPYSIGN((T)0, a / b);                                       \
        }                                                                           \
        return floordiv;                                                            \
    }                                                                               \
    SYMDL_DEV T symdl_abs(T a) { return FABS(a); }                                  \
    SYMDL_DEV T symdl_sign(T a) { return a > 0 ? (T)1 : (a < 0 ? (T)-1 : (a == 0 ? (T)0 : a)); } \
    SYMDL_DEV T symdl_sigmoid(T x) {                                                \
        T e = EXP(-FABS(x));                                                        \
        return x >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);                         \
    }                                                                               \
    SYMDL_DEV T symdl_softplus(T x) {                                               \
        if (x != x) return x;                                                       \
        return (x > 0 ? x : (T)0) + LOG1P(EXP(-FABS(x)));                           \
    }

SYMDL_FLOAT_HELPERS(float, fmodf, floorf, copysignf, fabsf, expf, log1pf)
SYMDL_FLOAT_HELPERS(double, fmod, floor, copysign, fabs, exp, log1p)

// ---------------------------------------------------------------- maximum, minimum (NaN wins)
template <typename T> SYMDL_DEV T symdl_maximum(T a, T b) { return (a != a || a >= b) ? a : b; }
template <typename T> SYMDL_DEV T symdl_minimum(T a, T b) { return (a != a || a <= b) ? a : b; }

// ---------------------------------------------------------------- float to integer casts
// As NumPy on x86: NaN and out-of-range values become the minimum of int32 (for targets of 32
// bits or fewer, which then wrap) or of int64.
SYMDL_DEV int symdl_f2i32(double x) {
    return (x != x || x >= 2147483648.0 || x < -2147483648.0) ? (int)0x80000000 : (int)x;
}
SYMDL_DEV long long symdl_f2i64(double x) {
    return (x != x || x >= 9223372036854775808.0 || x < -9223372036854775808.0) ? (long long)0x8000000000000000LL
                                                                                 : (long long)x;
}

// ---------------------------------------------------------------- overloads for float templates
SYMDL_DEV float symdl_exp(float x) { return expf(x); }
SYMDL_DEV double symdl_exp(double x) { return exp(x); }
SYMDL_DEV float symdl_log(float x) { return logf(x); }
SYMDL_DEV double symdl_log(double x) { return log(x); }
SYMDL_DEV bool symdl_isfinite(float x) { return x - x == 0.0f; }
SYMDL_DEV bool symdl_isfinite(double x) { return x - x == 0.0; }
// -inf of the argument's type (the argument only selects the overload).
SYMDL_DEV float symdl_lowest(float) { return -symdl_inff(); }
SYMDL_DEV double symdl_lowest(double) { return -symdl_inf(); }

// ---------------------------------------------------------------- the C backend's names
// The scalar ops' expressions are written once (symdl.tensor.elemwise) for the C and CUDA
// backends alike, with the helper names of kernels/c/symdl_math.h; these give them here.
#define SD_FMAX(a, b) symdl_maximum(a, b)
#define SD_FMIN(a, b) symdl_minimum(a, b)
#define SD_IMAX(a, b) ((a) > (b) ? (a) : (b))
#define SD_IMIN(a, b) ((a) < (b) ? (a) : (b))
#define SYMDL_TYPED_DIVMOD(tag, T)                                                  \
    SYMDL_DEV T sd_floordiv_##tag(T a, T b) { return symdl_floor_div(a, b); }       \
    SYMDL_DEV T sd_mod_##tag(T a, T b) { return symdl_mod(a, b); }
SYMDL_TYPED_DIVMOD(i8, signed char)
SYMDL_TYPED_DIVMOD(i16, short)
SYMDL_TYPED_DIVMOD(i32, int)
SYMDL_TYPED_DIVMOD(i64, long long)
SYMDL_TYPED_DIVMOD(u8, unsigned char)
SYMDL_TYPED_DIVMOD(u16, unsigned short)
SYMDL_TYPED_DIVMOD(u32, unsigned int)
SYMDL_TYPED_DIVMOD(u64, unsigned long long)
SYMDL_TYPED_DIVMOD(f32, float)
SYMDL_TYPED_DIVMOD(f64, double)
SYMDL_DEV float sd_sigmoidf(float x) { return symdl_sigmoid(x); }
SYMDL_DEV double sd_sigmoid(double x) { return symdl_sigmoid(x); }
SYMDL_DEV float sd_softplusf(float x) { return symdl_softplus(x); }
SYMDL_DEV double sd_softplus(double x) { return symdl_softplus(x); }
// the C backend's vectorizable float versions are CUDA's own functions here
SYMDL_DEV float sd_expf(float x) { return expf(x); }
SYMDL_DEV float sd_logf(float x) { return logf(x); }
SYMDL_DEV float sd_log1pf(float x) { return log1pf(x); }
SYMDL_DEV float sd_expm1f(float x) { return expm1f(x); }
SYMDL_DEV float sd_tanhf(float x) { return tanhf(x); }
