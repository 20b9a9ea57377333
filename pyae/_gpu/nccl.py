"""Gradient sums across MPI ranks on GPUs: NCCL through CuPy
(``cupy.cuda.nccl``), one communicator per model, set up from the MPI
communicator (rank 0's unique id broadcast over MPI)."""

from __future__ import annotations


class NcclSum:
    def __init__(self, comm):
        """``comm``: the mpi4py communicator of the ranks (one GPU each)."""
        try:
            from cupy.cuda import nccl
        except ImportError as e:
            raise RuntimeError("device='cuda' with comm= needs CuPy built with NCCL "
                               f"(cupy.cuda.nccl): {e}") from e
        self.nccl = nccl
        uid = comm.bcast(nccl.get_unique_id() if comm.Get_rank() == 0 else None, root=0)
        self.comm = nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())

    def sum(self, grads):
        """In place, on the current stream; True (grads zeroed) when the sum
        holds a rank's NaN failure flag."""
        import cupy

        stream = cupy.cuda.get_current_stream()
        self.comm.allReduce(grads.data.ptr, grads.data.ptr, grads.size, self.nccl.NCCL_FLOAT32,
                            self.nccl.NCCL_SUM, stream.ptr)
        if bool(cupy.isnan(grads[0])):  # one float back to the host: the step's check
            grads[...] = 0.0
            return True
        return False
