// Bindings of the noise kernels (pyae.noise wraps these).
#include "kernels/noise.h"
#include "math/philox.h"
#include "checks.h"

namespace pyae::bind {

namespace {

NoiseConfig config(NoiseKind kind, float a, float b, float lo, float hi) {
  return NoiseConfig{kind, a, b, lo, hi};
}

void check_same_size(const FloatArray& out, const FloatArray& inp) {
  if (out.size() != inp.size()) throw py::value_error("out and inp differ in size");
  check_writeable(out, "out");
}

}  // namespace

void register_noise(py::module_& m) {
  m.def(
      "corrupt",
      [](FloatArray out, const FloatArray& inp, NoiseKind kind, float a, float b, float lo, float hi,
         std::uint64_t seed, std::uint64_t stream, std::uint64_t first_index) {
        check_same_size(out, inp);
        NoiseConfig cfg = config(kind, a, b, lo, hi);
        py::gil_scoped_release nogil;
        corrupt(out.mutable_data(), inp.data(), static_cast<std::size_t>(inp.size()), cfg, seed,
                stream, first_index);
      },
      py::arg("out").noconvert(), py::arg("inp").noconvert(), py::arg("kind"), py::arg("a"),
      py::arg("b"), py::arg("lo"), py::arg("hi"), py::arg("seed"), py::arg("stream"),
      py::arg("first_index"));
  m.def(
      "philox_draws",
      [](FloatArray out, bool normal, std::uint64_t seed, std::uint64_t stream,
         std::uint64_t first_index) {
        check_writeable(out, "out");
        py::gil_scoped_release nogil;
        auto n = static_cast<std::size_t>(out.size());
        if (normal) philox_normal(out.mutable_data(), n, seed, stream, first_index);
        else philox_uniform(out.mutable_data(), n, seed, stream, first_index);
      },
      py::arg("out").noconvert(), py::arg("normal"), py::arg("seed"), py::arg("stream"),
      py::arg("first_index"));
  m.def(
      "corrupt_with",
      [](FloatArray out, const FloatArray& inp, const FloatArray& draws, NoiseKind kind, float a,
         float b, float lo, float hi) {
        check_same_size(out, inp);
        if (draws.size() != inp.size()) throw py::value_error("draws and inp differ in size");
        NoiseConfig cfg = config(kind, a, b, lo, hi);
        py::gil_scoped_release nogil;
        auto n = static_cast<std::size_t>(inp.size());
        if (cfg.kind == NoiseKind::gaussian)
          gaussian_corrupt_with(out.mutable_data(), inp.data(), draws.data(), n, a, lo, hi);
        else
          uniform_corrupt_with(out.mutable_data(), inp.data(), draws.data(), n, cfg);
      },
      py::arg("out").noconvert(), py::arg("inp").noconvert(), py::arg("draws").noconvert(),
      py::arg("kind"), py::arg("a"), py::arg("b"), py::arg("lo"), py::arg("hi"));
  m.def("philox_path", &philox_path);
  m.def("force_portable_philox", &force_portable_philox, py::arg("on"));
  m.def("philox4x32_10", [](std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                            std::uint32_t c3, std::uint32_t k0, std::uint32_t k1) {
    Philox4 w = philox4x32_10(c0, c1, c2, c3, k0, k1);
    return py::make_tuple(w.v[0], w.v[1], w.v[2], w.v[3]);
  });
}

}  // namespace pyae::bind
