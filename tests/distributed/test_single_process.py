"""``symdl.distributed`` in one process (no launcher, with or without mpi4py): one rank, every
collective the identity; the ops' types, shapes, gradients and errors; the buckets and where the
plan puts their starts and waits; shards and the sampler."""

import subprocess
import sys

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import distributed as dist
from symdl import layers, updates
from symdl.distributed import comm
from symdl.distributed.ops import AllreduceStart, AllreduceWait, plan_buckets
from symdl.errors import TypeMismatch
from symdl.testing import compare_with_numpy_both_ways, verify_grad

pytestmark = pytest.mark.skipif(
    comm.launched_by_mpi(), reason="one-process tests; the multi-rank tests launch mpiexec themselves"
)


def test_a_process_no_launcher_started_is_rank_0_of_1():
    dist.init()
    assert dist.is_initialized() and dist.rank() == 0 and dist.size() == 1
    assert comm.communicator().name == "local"


def test_init_refuses_unknown_settings():
    with pytest.raises(ValueError, match="progress must be one of"):
        dist.init(progress="poll")
    with pytest.raises(ValueError, match="backend must be"):
        dist.init(backend="nccl")
    with pytest.raises(ValueError, match="timeout must be positive"):
        dist.init(timeout=0)


def test_importing_symdl_and_its_distributed_module_neither_loads_mpi_nor_initializes():
    code = "import sys, symdl, symdl.tensor, symdl.distributed as d; print('mpi4py' in sys.modules, d.is_initialized())"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]


def test_a_launched_process_without_mpi4py_is_told_to_install_the_mpi_extra():
    code = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "import symdl.distributed as d\n"
        "try:\n    d.init()\nexcept d.DistributedError as e:\n    print(e)\n"
    )
    env = {"OMPI_COMM_WORLD_SIZE": "2", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert "started by an MPI launcher (OMPI_COMM_WORLD_SIZE=2)" in out and 'pip install "symdl[mpi]"' in out


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(), (1,), (3, 1), (0, 4), (2, 3, 5)])
def test_allreduce_of_one_rank_is_the_identity(op, dtype, shape, backend):
    value = np.random.default_rng(0).normal(size=shape).astype(dtype)
    compare_with_numpy_both_ways(lambda x: dist.allreduce(x, op=op), lambda x: x, [value], backends=[backend])


def test_allreduce_of_a_list_reduces_each_tensor_in_buckets_of_one_dtype(backend):
    rng = np.random.default_rng(1)
    values = [
        rng.normal(size=(4, 3)).astype("float32").T,  # not contiguous
        rng.normal(size=5).astype("float64"),
        np.arange(6, dtype="int32").reshape(2, 3),
        rng.normal(size=(1, 1)).astype("float32"),
    ]
    compare_with_numpy_both_ways(lambda *xs: dist.allreduce(list(xs)), lambda *xs: list(xs), values, backends=[backend])


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_allreduce_gradient_checks_numerically(op):
    rng = np.random.default_rng(2)
    verify_grad(lambda x: dist.allreduce(x, op=op) * 3, [rng.normal(size=(3, 2))], mode="py")

    def bucket_of_two(a, b):  # one start and one wait with several inputs and outputs
        first, second = dist.allreduce([a, b], op=op)
        return T.sum(first) * second

    verify_grad(bucket_of_two, [rng.normal(size=(2, 2)), rng.normal(size=3)], mode="py")


def test_allreduce_refuses_what_it_cannot_reduce():
    with pytest.raises(TypeMismatch, match="allreduce sums numbers"):
        dist.allreduce(T.vector("b", dtype="bool"))
    with pytest.raises(TypeMismatch, match="needs a float tensor"):
        dist.allreduce(T.ivector("i"), op="mean")
    with pytest.raises(ValueError, match="op must be one of"):
        dist.allreduce(T.vector("x"), op="max")
    with pytest.raises(TypeMismatch, match="one bucket holds one dtype"):
        AllreduceStart()(T.fvector("f"), T.dvector("d"))


def test_a_wait_without_its_start_is_an_error_not_a_hang():
    x = T.fvector("x")
    node = AllreduceWait("sum", 0, ((None,),), "x", uid=12345)(AllreduceStart(uid=12345)(x), T.shape(x)).owner
    with pytest.raises(dist.DistributedError, match="no all-reduce was started"):
        node.op.perform(node, [np.zeros(3, "float32"), np.array([3])])


def test_a_wait_that_never_completes_raises_after_the_timeout():
    class Stuck(comm.Communicator):
        def test(self, request):
            return False

    with pytest.raises(dist.DistributedError, match="did not complete within 0.05 s"):
        Stuck(timeout=0.05).wait(object(), "the all-reduce of bucket 0")


def test_buckets_hold_consecutive_tensors_of_one_dtype_up_to_the_byte_limit():
    assert plan_buckets([4, 4, 4, 12], ["float32"] * 4, 8) == [[0, 1], [2], [3]]
    assert plan_buckets([4, 4, 4], ["float32", "float64", "float64"], 100) == [[0], [1, 2]]
    assert plan_buckets([], [], 8) == []


def mlp(n_layers=3, width=32):
    x, y = T.matrix("x"), T.ivector("y")
    net = layers.InputLayer((None, 20), x)
    for _ in range(n_layers):
        net = layers.DenseLayer(net, width)
    net = layers.DenseLayer(net, 5, nonlinearity=symdl.nonlinearities.softmax)
    loss = symdl.objectives.categorical_crossentropy(layers.get_output(net), y).mean()
    return net, x, y, loss


def test_allreduce_grads_makes_a_bucket_per_few_megabytes():
    net, x, y, loss = mlp()
    params = layers.get_all_params(net, trainable=True)
    one = dist.allreduce_grads(loss, params)
    assert len({g.owner for g in one}) == 1  # 8 small gradients: one bucket
    nbytes = [p.get_value().nbytes for p in params]
    several = dist.allreduce_grads(loss, params, bucket_bytes=max(nbytes))
    assert len({g.owner for g in several}) == len(plan_buckets(nbytes, ["float32"] * len(nbytes), max(nbytes)))
    assert all(g.type.ndim == p.ndim and g.dtype == p.dtype for g, p in zip(several, params))


@pytest.mark.parametrize("mode", ["py", "c"])
def test_the_plan_starts_the_first_bucket_before_the_last_gradient_and_waits_after_it(mode):
    if mode not in symdl.backend.available():
        pytest.skip(f"the {mode} backend is not available here")
    net, x, y, loss = mlp()
    params = layers.get_all_params(net, trainable=True)
    grads = dist.allreduce_grads(loss, params, bucket_bytes=4096)
    fn = symdl.function([x, y], loss, updates=updates.adam(grads, params), mode=mode)
    order = fn.plan.order
    starts = [k for k, node in enumerate(order) if isinstance(node.op, AllreduceStart)]
    waits = [k for k, node in enumerate(order) if isinstance(node.op, AllreduceWait)]
    reduced = {v for k in starts for v in order[k].inputs}
    computed = [k for k, node in enumerate(order) if set(node.outputs) & reduced]
    assert len(starts) >= 3
    assert starts[0] < max(computed) < min(waits)  # the first all-reduce overlaps later gradients
    for k in starts:  # each starts as soon as its gradients exist
        assert k == 1 + max(j for j, node in enumerate(order[:k]) if set(node.outputs) & set(order[k].inputs))
    if mode == "c":
        assert "AllreduceStart" in fn.source()
        assert {"py"} == {where for name, where, *_ in fn.profile().rows if "Allreduce" in name}


def test_training_with_allreduce_grads_on_one_rank_is_training_without_it():
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(3, 8, 20)).astype("float32")
    ys = rng.integers(0, 5, size=(3, 8)).astype("int32")
    finals = []
    for reduce in (False, True):
        symdl.init.set_rng(np.random.RandomState(0))
        net, x, y, loss = mlp(n_layers=1)
        params = layers.get_all_params(net, trainable=True)
        grads = dist.allreduce_grads(loss, params, bucket_bytes=1024) if reduce else loss
        fn = symdl.function([x, y], loss, updates=updates.adam(grads, params))
        for xb, yb in zip(xs, ys):
            fn(xb, yb)
        finals.append([p.get_value() for p in params])
    for a, b in zip(*finals):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_trace_and_stats_record_each_bucket():
    x = T.fvector("x")
    fn = symdl.function([x], dist.allreduce([x, x * 2], bucket_bytes=4), mode="py")
    dist.stats.reset()
    with dist.trace() as events:
        fn(np.ones(3, "float32"))
    assert [e for e, _, _ in events] == ["start", "start", "wait", "done", "wait", "done"]
    assert [t for *_, t in events] == sorted(t for *_, t in events)
    assert dist.stats.collectives == 2 and dist.stats.bytes == 2 * 4 * (3 + 1)  # each bucket: data and its check


def test_broadcast_of_a_layer_covers_every_parameter_of_the_network():
    net, *_ = mlp(n_layers=1)
    net = layers.batch_norm(net)
    found = dist.broadcast(net)
    assert found == layers.get_all_params(net) and len(found) > len(layers.get_all_params(net, trainable=True))
    with pytest.raises(TypeError, match="shared variables or a layer"):
        dist.broadcast([np.zeros(3)])


def test_shards_of_every_rank_make_the_batch_again():
    data = np.arange(11)
    for size in (1, 2, 3, 4):
        parts = [dist.shard(data, rank, size) for rank in range(size)]
        np.testing.assert_array_equal(np.concatenate(parts), data)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError, match="rank must be in"):
        dist.shard(data, 2, 2)


def test_the_sampler_gives_each_rank_its_part_of_the_batches_one_process_would_see():
    n, batch = 23, 6
    single = dist.DistributedSampler(n, batch, seed=5, rank=0, size=1)
    ranks = [dist.DistributedSampler(n, batch, seed=5, rank=r, size=2) for r in (0, 1)]
    for epoch in (0, 1):
        for sampler in [single, *ranks]:
            sampler.set_epoch(epoch)
        for whole, *parts in zip(single, *ranks):
            np.testing.assert_array_equal(np.concatenate(parts), whole)
    single.set_epoch(0)
    first = np.concatenate(list(single))
    single.set_epoch(1)
    assert sorted(first) == list(range(n)) and not np.array_equal(first, np.concatenate(list(single)))
    assert len(dist.DistributedSampler(n, batch, drop_last=True, rank=0, size=2)) == 3
    with pytest.raises(ValueError, match="cannot give each of 4 ranks"):
        dist.DistributedSampler(n, 3, rank=0, size=4)


def test_the_allreduce_runs_in_a_cuda_step_through_the_host_on_the_emulated_device(tmp_path):
    import importlib.util
    import shutil
    from pathlib import Path

    if shutil.which("g++") is None:
        pytest.skip("the host emulation of CUDA kernels needs g++")
    # The emulated device of the CUDA backend's tests: the generated CUDA compiled for the host.
    path = Path(__file__).resolve().parents[1] / "backend" / "cuda" / "conftest.py"
    spec = importlib.util.spec_from_file_location("symdl_cuda_emulation", path)
    emulation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(emulation)
    from symdl.backend.cuda import use_device

    rng = np.random.default_rng(4)
    x0 = rng.normal(size=(8, 20)).astype("float32")
    y0 = rng.integers(0, 5, 8).astype("int32")
    results = []
    for mode in ("py", "cuda"):
        symdl.init.set_rng(np.random.RandomState(0))
        net, x, y, loss = mlp(n_layers=1, width=8)
        params = layers.get_all_params(net, trainable=True)
        grads = dist.allreduce_grads(loss, params, bucket_bytes=256)
        with use_device(emulation.EmulatedDevice(tmp_path)):
            fn = symdl.function([x, y], loss, updates=updates.momentum(grads, params, 0.1), mode=mode)
            losses = [float(fn(x0, y0)) for _ in range(3)]
        results.append((losses, [p.get_value() for p in params]))
        if mode == "cuda":
            on_host = [s.label for s in fn.thunk.program.steps if s.describe() == "host+xfer"]
            assert on_host and all("Allreduce" in label for label in on_host), on_host
    (losses_py, params_py), (losses_cuda, params_cuda) = results
    np.testing.assert_allclose(losses_cuda, losses_py, rtol=1e-5)
    for a, b in zip(params_cuda, params_py):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
