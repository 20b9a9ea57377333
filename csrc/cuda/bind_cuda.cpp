// pyae._cuda: one launcher for every kernel of kernel_list.h, on device
// addresses (CuPy arrays' data pointers; None for null), plus the device
// status. Built only when a CUDA compiler is found; the CUDA runtime is
// linked statically, so importing it needs no CUDA libraries, and without
// a GPU or driver device_status() says why.
//
// launch() converts, checks and packs its arguments with launch_args.h and
// kernel_table.h, the code the CPU emulator of the tests runs too.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels.cuh"
#include "launch_args.h"

namespace py = pybind11;
namespace kt = pyae::kernel_table;

namespace {

void check(cudaError_t e) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(e));
}

py::tuple device_status() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return py::make_tuple(0, std::string(cudaGetErrorString(e)));
  if (count == 0) return py::make_tuple(0, std::string("no CUDA device"));
  cudaDeviceProp prop{};
  e = cudaGetDeviceProperties(&prop, 0);
  if (e != cudaSuccess) return py::make_tuple(0, std::string(cudaGetErrorString(e)));
  return py::make_tuple(count, std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
                                   std::to_string(prop.minor) + ")");
}

py::tuple kernel_names() {
  PyObject* names = kt::python_names(pyae::cuda::kernels());
  if (names == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::tuple>(names);
}

void launch(const std::string& name, long long grid, long long block, py::handle args,
            std::uintptr_t stream) {
  kt::Packed packed;
  const kt::KernelInfo* k =
      kt::python_prepare_launch(pyae::cuda::kernels(), name.c_str(), grid, block, args.ptr(), packed);
  if (k == nullptr) throw py::error_already_set();
  check(pyae::cuda::launch(*k, static_cast<unsigned>(grid), static_cast<unsigned>(block),
                           packed.pointers, reinterpret_cast<cudaStream_t>(stream)));
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "pyae CUDA kernels (private); pointers are device addresses";
  m.def("device_status", &device_status,
        "(number of devices, device 0's name or why there is none)");
  m.def("kernel_names", &kernel_names, "The kernels of kernel_list.h, in its order.");
  m.def("launch", &launch, py::arg("name"), py::arg("grid"), py::arg("block"), py::arg("args"),
        py::arg("stream") = 0,
        "Launches pyae_<name> on `grid` blocks of `block` threads on `stream` (a "
        "cudaStream_t address). args: one per kernel parameter, None or an int device address "
        "for a pointer, else a NumPy scalar of exactly the parameter's type; anything else "
        "raises TypeError before any launch.");
}
