// Bindings of the latent-head kernels: reparameterisation, KL, and the
// VAE decoder's per-sample NLL.
#include "kernels/latent.h"
#include "kernels/loss.h"
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
