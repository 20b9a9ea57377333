// Bindings of the latent-space kernels: reparameterisation, KL, the VAE
// decoder's per-sample NLL, and the codes' nearest-neighbour distances.
#include "kernels/latent.h"
#include "kernels/loss.h"
#include "kernels/neighbours.h"
#include "checks.h"

#include <pybind11/stl.h>

namespace pyae::bind {

namespace {

// (B, Z) from a (B, 2Z) mu_logvar array.
std::pair<int, int> latent_shape(const FloatArray& mu_logvar) {
  if (mu_logvar.ndim() != 2 || mu_logvar.shape(1) % 2 != 0)
    throw py::value_error("mu_logvar must be (B, 2Z)");
  return {dim(mu_logvar, 0), dim(mu_logvar, 1) / 2};
}

}  // namespace

void register_latent(py::module_& m) {
  m.def(
      "nearest_mean_distance",
      [](const py::array_t<double, py::array::c_style>& codes, const FloatArray& bank, int k,
         py::object skip_obj) {
        if (codes.ndim() != 2 || bank.ndim() != 2 || codes.shape(1) != bank.shape(1))
          throw py::value_error("codes (n, Z) and bank (M, Z) must be 2-D with the same Z");
        const int n = dim(codes, 0), M = dim(bank, 0), Z = dim(codes, 1);
        py::array_t<std::uint8_t, py::array::c_style> skip;
        const std::uint8_t* s = nullptr;
        if (!skip_obj.is_none()) {
          skip = skip_obj.cast<py::array_t<std::uint8_t, py::array::c_style>>();
          if (skip.ndim() != 1 || skip.shape(0) != n) throw py::value_error("skip_self must be (n,)");
          s = skip.data();
        }
        if (k < 1 || k + (s != nullptr) > M)
          throw py::value_error("need 1 <= k <= bank rows (k + 1 with skip_self)");
        py::array_t<double> out(n);
        {
          py::gil_scoped_release nogil;
          nearest_mean_distance(codes.data(), bank.data(), n, M, Z, k, s, out.mutable_data());
        }
        return out;
      },
      py::arg("codes").noconvert(), py::arg("bank").noconvert(), py::arg("k"),
      py::arg("skip_self") = py::none(),
      "Mean distance of each code (float64) to its k nearest bank codes (float32):\n(n,) float64; where\n"
      "skip_self (uint8, (n,)) is set, the nearest is left out (the row itself).");
  m.def(
      "reparameterize_forward",
      [](FloatArray z, const FloatArray& mu_logvar, const FloatArray& eps) {
        auto [B, Z] = latent_shape(mu_logvar);
        check_shape(z, {B, Z}, "z");
        check_shape(eps, {B, Z}, "eps");
        check_writeable(z, "z");
        py::gil_scoped_release nogil;
        reparameterize_forward(z.mutable_data(), mu_logvar.data(), eps.data(), B, Z);
      },
      py::arg("z").noconvert(), py::arg("mu_logvar").noconvert(), py::arg("eps").noconvert());
  m.def(
      "reparameterize_backward",
      [](FloatArray dmu_logvar, const FloatArray& dz, const FloatArray& z,
         const FloatArray& mu_logvar) {
        auto [B, Z] = latent_shape(mu_logvar);
        check_shape(dmu_logvar, {B, 2 * Z}, "dmu_logvar");
        check_shape(dz, {B, Z}, "dz");
        check_shape(z, {B, Z}, "z");
        check_writeable(dmu_logvar, "dmu_logvar");
        py::gil_scoped_release nogil;
        reparameterize_backward(dmu_logvar.mutable_data(), dz.data(), z.data(), mu_logvar.data(),
                                B, Z);
      },
      py::arg("dmu_logvar").noconvert(), py::arg("dz").noconvert(), py::arg("z").noconvert(),
      py::arg("mu_logvar").noconvert());
  m.def(
      "kl_rows",
      [](py::object d_obj, FloatArray row_kl, const FloatArray& mu_logvar, float grad_scale) {
        auto [B, Z] = latent_shape(mu_logvar);
        check_shape(row_kl, {B}, "row_kl");
        FloatArray dml;
        float* d = optional_array(d_obj, &dml, {B, 2 * Z}, "dmu_logvar", true);
        py::gil_scoped_release nogil;
        return kl_rows(d, row_kl.mutable_data(), mu_logvar.data(), B, Z, grad_scale);
      },
      py::arg("dmu_logvar"), py::arg("row_kl").noconvert(), py::arg("mu_logvar").noconvert(),
      py::arg("grad_scale"));
  m.def(
      "reconstruction_nll_rows",
      [](Loss loss, py::object grad_obj, FloatArray row, const FloatArray& out,
         const FloatArray& target, float grad_scale) {
        if (out.ndim() != 2) throw py::value_error("out must be 2-D (B, D)");
        int B = dim(out, 0), D = dim(out, 1);
        check_shape(target, {B, D}, "target");
        check_shape(row, {B}, "row_nll");
        FloatArray grad;
        float* gp = optional_array(grad_obj, &grad, {B, D}, "grad", true);
        py::gil_scoped_release nogil;
        return reconstruction_nll_rows(gp, row.mutable_data(), out.data(), target.data(), B,
                                           D, loss, grad_scale);
      },
      py::arg("loss"), py::arg("grad"), py::arg("row_nll").noconvert(),
      py::arg("out").noconvert(), py::arg("target").noconvert(), py::arg("grad_scale"));

}

}  // namespace pyae::bind
