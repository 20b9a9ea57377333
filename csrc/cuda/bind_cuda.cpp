// pyae._cuda: the CUDA kernels on device pointers (e.g. CuPy arrays' data
// pointers) and the device status. Built only when a CUDA compiler is found;
// the CUDA runtime is linked statically, so importing it needs no CUDA
// libraries, and without a GPU or driver device_status() says why.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "kernels.cuh"

namespace py = pybind11;
using pyae::Activation;

namespace {

template <class T>
T* ptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

cudaStream_t stream_of(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

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

pyae::NoiseConfig noise_config(int kind, float a, float b, float lo, float hi) {
  return pyae::NoiseConfig{static_cast<pyae::NoiseKind>(kind), a, b, lo, hi};
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "pyae CUDA kernels (private); pointers are device addresses";
  m.def("device_status", &device_status);
  m.def("synchronize", [] { check(cudaDeviceSynchronize()); });
  m.def("bias_activation", [](std::uintptr_t out, std::uintptr_t bias, int B, int D, int act,
                              std::uintptr_t s) {
    check(pyae::cuda::bias_activation(ptr<float>(out), ptr<const float>(bias), B, D,
                                      static_cast<Activation>(act), stream_of(s)));
  });
  m.def("activation_backward", [](std::uintptr_t dpre, std::uintptr_t dbias, std::uintptr_t dout,
                                  std::uintptr_t out, int B, int D, int act, std::uintptr_t s) {
    check(pyae::cuda::activation_backward(ptr<float>(dpre), ptr<float>(dbias),
                                          ptr<const float>(dout), ptr<const float>(out), B, D,
                                          static_cast<Activation>(act), stream_of(s)));
  });
  m.def("corrupt", [](std::uintptr_t out, std::uintptr_t inp, std::size_t n, int kind, float a,
                      float b, float lo, float hi, std::uint64_t seed, std::uint64_t stream_id,
                      std::uint64_t first, std::uintptr_t s) {
    check(pyae::cuda::corrupt(ptr<float>(out), ptr<const float>(inp), n,
                              noise_config(kind, a, b, lo, hi), seed, stream_id, first,
                              stream_of(s)));
  });
  m.def("philox_draws", [](std::uintptr_t out, std::size_t n, bool normal, std::uint64_t seed,
                           std::uint64_t stream_id, std::uint64_t first, std::uintptr_t s) {
    check(pyae::cuda::philox_draws(ptr<float>(out), n, normal, seed, stream_id, first,
                                   stream_of(s)));
  });
  m.def("reparameterize_forward", [](std::uintptr_t z, std::uintptr_t ml, std::uintptr_t eps,
                                     int B, int Z, std::uintptr_t s) {
    check(pyae::cuda::reparameterize_forward(ptr<float>(z), ptr<const float>(ml),
                                             ptr<const float>(eps), B, Z, stream_of(s)));
  });
  m.def("reparameterize_backward", [](std::uintptr_t dml, std::uintptr_t dz, std::uintptr_t z,
                                      std::uintptr_t ml, int B, int Z, std::uintptr_t s) {
    check(pyae::cuda::reparameterize_backward(ptr<float>(dml), ptr<const float>(dz),
                                              ptr<const float>(z), ptr<const float>(ml), B, Z,
                                              stream_of(s)));
  });
  m.def("kl_backward", [](std::uintptr_t dml, std::uintptr_t row_kl, std::uintptr_t ml, int B,
                          int Z, float grad_scale, std::uintptr_t s) {
    check(pyae::cuda::kl_backward(ptr<float>(dml), ptr<float>(row_kl), ptr<const float>(ml), B,
                                  Z, grad_scale, stream_of(s)));
  });
  m.def("loss_rows", [](std::uintptr_t grad, std::uintptr_t rows, std::uintptr_t pred,
                        std::uintptr_t target, int B, int D, bool bce, float grad_scale,
                        std::uintptr_t s) {
    check(pyae::cuda::loss_rows(ptr<float>(grad), ptr<float>(rows), ptr<const float>(pred),
                                ptr<const float>(target), B, D, bce, grad_scale, stream_of(s)));
  });
  m.def("adam_update", [](std::uintptr_t p, std::uintptr_t m1, std::uintptr_t m2,
                          std::uintptr_t g, std::size_t n, float omb1, float beta2, float omb2,
                          float step_size, float sqrt_bc2, float eps, std::uintptr_t s) {
    check(pyae::cuda::adam_update(ptr<float>(p), ptr<float>(m1), ptr<float>(m2),
                                  ptr<const float>(g), n, omb1, beta2, omb2, step_size, sqrt_bc2,
                                  eps, stream_of(s)));
  });
  m.def("sgd_momentum_update", [](std::uintptr_t p, std::uintptr_t buf, std::uintptr_t g,
                                  std::size_t n, float lr, float momentum, std::uintptr_t s) {
    check(pyae::cuda::sgd_momentum_update(ptr<float>(p), ptr<float>(buf), ptr<const float>(g),
                                          n, lr, momentum, stream_of(s)));
  });
}
