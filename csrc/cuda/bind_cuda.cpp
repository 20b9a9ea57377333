// pyae._cuda: the launchers of kernels.cuh on device addresses (CuPy
// arrays' data pointers; 0 for "none") plus the device status. Built only
// when a CUDA compiler is found; the CUDA runtime is linked statically, so
// importing it needs no CUDA libraries, and without a GPU or driver
// device_status() says why.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels.cuh"

namespace py = pybind11;
namespace k = pyae::cuda;
using k::u64;
using addr = std::uintptr_t;

namespace {

template <class T>
T* ptr(addr p) {
  return reinterpret_cast<T*>(p);
}

cudaStream_t stream_of(addr s) { return reinterpret_cast<cudaStream_t>(s); }

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

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "pyae CUDA kernels (private); pointers are device addresses";
  m.def("device_status", &device_status);
  m.def("bias_activation", [](addr out, addr pre, addr bias, int B, int D, int act, addr s) {
    check(k::bias_activation(ptr<float>(out), ptr<float>(pre), ptr<const float>(bias), B, D, act,
                             stream_of(s)));
  });
  m.def("activation_grad", [](addr dpre, addr dout, addr out, addr pre, u64 N, int act, addr s) {
    check(k::activation_grad(ptr<float>(dpre), ptr<const float>(dout), ptr<const float>(out),
                             ptr<const float>(pre), N, act, stream_of(s)));
  });
  m.def("gather_rows", [](addr out, addr data, addr order, addr counters, int B, int D, addr s) {
    check(k::gather_rows(ptr<float>(out), ptr<const float>(data), ptr<const long long>(order),
                         ptr<const u64>(counters), B, D, stream_of(s)));
  });
  m.def("noise", [](addr out, addr inp, u64 N, int kind, float a, float b, float lo, float hi,
                    bool normal, u64 seed, u64 stream, addr counters, u64 first, addr s) {
    check(k::noise(ptr<float>(out), ptr<const float>(inp), N, kind, a, b, lo, hi, normal, seed,
                   stream, ptr<const u64>(counters), first, stream_of(s)));
  });
  m.def("reparameterize_forward", [](addr z, addr ml, addr eps, int B, int Z, addr s) {
    check(k::reparameterize_forward(ptr<float>(z), ptr<const float>(ml), ptr<const float>(eps), B,
                                    Z, stream_of(s)));
  });
  m.def("reparameterize_backward", [](addr dml, addr dz, addr z, addr ml, int B, int Z, addr s) {
    check(k::reparameterize_backward(ptr<float>(dml), ptr<const float>(dz), ptr<const float>(z),
                                     ptr<const float>(ml), B, Z, stream_of(s)));
  });
  m.def("kl", [](addr dml, addr row_kl, addr ml, int B, int Z, float grad_scale, addr s) {
    check(k::kl(ptr<float>(dml), ptr<float>(row_kl), ptr<const float>(ml), B, Z, grad_scale,
                stream_of(s)));
  });
  m.def("loss_rows", [](addr grad, addr rows, addr pred, addr target, int B, int D, bool bce,
                        float grad_scale, double row_scale, double row_shift, addr s) {
    check(k::loss_rows(ptr<float>(grad), ptr<float>(rows), ptr<const float>(pred),
                       ptr<const float>(target), B, D, bce, grad_scale, row_scale, row_shift,
                       stream_of(s)));
  });
  m.def("accumulate", [](addr totals, int slot, addr rows, int B, double scale, addr s) {
    check(k::accumulate(ptr<double>(totals), slot, ptr<const float>(rows), B, scale,
                        stream_of(s)));
  });
  m.def("adam", [](addr p, addr m1, addr m2, addr g, u64 N, double lr, double beta1,
                   double beta2, double eps, addr counters, addr s) {
    check(k::adam(ptr<float>(p), ptr<float>(m1), ptr<float>(m2), ptr<float>(g), N, lr, beta1,
                  beta2, eps, ptr<const u64>(counters), stream_of(s)));
  });
  m.def("sgd_momentum", [](addr p, addr buf, addr g, u64 N, float lr, float momentum, addr s) {
    check(k::sgd_momentum(ptr<float>(p), ptr<float>(buf), ptr<float>(g), N, lr, momentum,
                          stream_of(s)));
  });
  m.def("advance", [](addr counters, int B, addr s) {
    check(k::advance(ptr<u64>(counters), B, stream_of(s)));
  });
}
