"""Sparse matrices (Theano's ``sparse``): CSR and CSC variables, their products with dense
tensors (with gradients for the dense operand and for the stored values), elementwise functions
that keep the sparsity pattern, sums and conversions.

A sparse variable is a structure over four tensors (values, indices, pointers, shape), so a
compiled graph is made of ops over dense arrays and runs on every backend. ``symdl.function``
takes and returns SciPy sparse matrices where a sparse variable is an input or an output; SciPy
is an optional dependency (``pip install 'symdl[sparse]'``), needed only when a SciPy object is
made (a 4-tuple ``(data, indices, indptr, shape)`` is accepted as an input without it).

>>> import numpy as np, scipy.sparse, symdl, symdl.sparse as sp, symdl.tensor as T
>>> x, w = sp.csr_matrix('x', dtype='float64'), T.dvector('w')
>>> cost = T.sum(sp.dot(x, w) ** 2)
>>> f = symdl.function([x, w], [cost, symdl.grad(cost, w), symdl.grad(cost, x.data)])
>>> value = scipy.sparse.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]))
>>> f(value, np.array([3.0, 4.0]))
[array(73.), array([ 6., 32.]), array([18., 64.])]
"""

from symdl.sparse.basic import (
    CSC,
    CSR,
    ELEMENTWISE,
    SparseVariable,
    as_sparse,
    as_sparse_variable,
    csc_from_dense,
    csc_matrix,
    csm_properties,
    csr_from_dense,
    csr_matrix,
    dense_from_sparse,
    dot,
    is_sparse_variable,
    map_values,
    matrix,
    mul,
    sp_sum,
    structured_add,
    structured_dot,
    structured_pow,
)

globals().update(ELEMENTWISE)

__all__ = [
    "CSC",
    "CSR",
    "SparseVariable",
    "as_sparse",
    "as_sparse_variable",
    "csc_from_dense",
    "csc_matrix",
    "csr_from_dense",
    "csm_properties",
    "csr_matrix",
    "dense_from_sparse",
    "dot",
    "is_sparse_variable",
    "map_values",
    "matrix",
    "mul",
    "sp_sum",
    "structured_add",
    "structured_dot",
    "structured_pow",
    *sorted(ELEMENTWISE),
]
