// Bindings of the VAE kernels and of pyae::VaeNetwork (pyae.VAE wraps it).
#include "../vae.h"
#include "../vae_network.h"
#include "checks.h"

#include <pybind11/stl.h>

namespace pyae::bind {

namespace {

// (B, Z) from a (B, 2Z) mu_logvar array.
std::pair<int, int> latent_shape(const FloatArray& mu_logvar) {
  if (mu_logvar.ndim() != 2 || mu_logvar.shape(1) % 2 != 0)
    throw py::value_error("mu_logvar must be (B, 2Z)");
  return {static_cast<int>(mu_logvar.shape(0)), static_cast<int>(mu_logvar.shape(1) / 2)};
}

const float* optional_eps(const py::object& eps_obj, FloatArray* holder, int B, int Z) {
  if (eps_obj.is_none()) return nullptr;
  *holder = eps_obj.cast<FloatArray>();
  check_shape(*holder, {B, Z}, "eps");
  return holder->data();
}

// A training step (update) or a gradient computation; (loss, recon, kl).
py::tuple run_step(VaeNetwork& n, const FloatArray& data, const IndexArray& rows,
                   const py::object& eps, bool update) {
  if (data.ndim() != 2 || data.shape(1) != n.features())
    throw py::value_error("data must be (n_samples, n_features)");
  if (rows.ndim() != 1 || rows.size() < 1) throw py::value_error("rows must be 1-D, non-empty");
  FloatArray holder;
  int B = static_cast<int>(rows.size());
  const float* e = optional_eps(eps, &holder, B, n.latent_dim());
  VaeStepResult r;
  {
    py::gil_scoped_release nogil;
    r = update ? n.train_step(data.data(), data.shape(0), rows.data(), B, e)
               : n.compute_gradients(data.data(), data.shape(0), rows.data(), B, e);
  }
  return py::make_tuple(r.loss, r.reconstruction, r.kl);
}

}  // namespace

void register_vae(py::module_& m) {
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
      "kl_backward",
      [](py::object d_obj, FloatArray row_kl, const FloatArray& mu_logvar, float grad_scale) {
        auto [B, Z] = latent_shape(mu_logvar);
        check_shape(row_kl, {B}, "row_kl");
        float* d = nullptr;
        FloatArray dml;
        if (!d_obj.is_none()) {
          dml = d_obj.cast<FloatArray>();
          check_shape(dml, {B, 2 * Z}, "dmu_logvar");
          check_writeable(dml, "dmu_logvar");
          d = dml.mutable_data();
        }
        py::gil_scoped_release nogil;
        return kl_backward(d, row_kl.mutable_data(), mu_logvar.data(), B, Z, grad_scale);
      },
      py::arg("dmu_logvar"), py::arg("row_kl").noconvert(), py::arg("mu_logvar").noconvert(),
      py::arg("grad_scale"));
  m.def(
      "reconstruction_nll_backward",
      [](int loss, py::object grad_obj, FloatArray row, const FloatArray& out,
         const FloatArray& target, float grad_scale) {
        if (out.ndim() != 2) throw py::value_error("out must be 2-D (B, D)");
        int B = static_cast<int>(out.shape(0)), D = static_cast<int>(out.shape(1));
        check_shape(target, {B, D}, "target");
        check_shape(row, {B}, "row_nll");
        float* gp = nullptr;
        FloatArray grad;
        if (!grad_obj.is_none()) {
          grad = grad_obj.cast<FloatArray>();
          check_shape(grad, {B, D}, "grad");
          gp = grad.mutable_data();
        }
        py::gil_scoped_release nogil;
        return reconstruction_nll_backward(gp, row.mutable_data(), out.data(), target.data(), B,
                                           D, static_cast<Loss>(loss), grad_scale);
      },
      py::arg("loss"), py::arg("grad"), py::arg("row_nll").noconvert(),
      py::arg("out").noconvert(), py::arg("target").noconvert(), py::arg("grad_scale"));

  py::class_<VaeNetwork>(m, "VaeNetwork")
      .def(py::init([](int D, std::vector<int> hidden, int Z, int hidden_act, int out_act,
                       int loss, double beta, int optimizer, double lr, double beta1,
                       double beta2, double eps, double momentum) {
             OptimizerConfig opt{static_cast<OptimizerKind>(optimizer), lr, beta1, beta2, eps,
                                 momentum};
             return new VaeNetwork(D, std::move(hidden), Z, static_cast<Activation>(hidden_act),
                                   static_cast<Activation>(out_act), static_cast<Loss>(loss),
                                   beta, opt);
           }),
           py::arg("features"), py::arg("hidden"), py::arg("latent_dim"),
           py::arg("hidden_activation"), py::arg("output_activation"), py::arg("loss"),
           py::arg("beta"), py::arg("optimizer"), py::arg("lr"), py::arg("beta1"),
           py::arg("beta2"), py::arg("eps"), py::arg("momentum"))
      .def_property_readonly("params",
                             [](py::object self) {
                               VaeNetwork& n = self.cast<VaeNetwork&>();
                               return view(n.params(), n.num_params(), self);
                             })
      .def_property_readonly("grads",
                             [](py::object self) {
                               VaeNetwork& n = self.cast<VaeNetwork&>();
                               return view(const_cast<float*>(n.grads()), n.num_params(), self);
                             })
      .def("optimizer_state",
           [](py::object self, int which) -> py::object {
             VaeNetwork& n = self.cast<VaeNetwork&>();
             float* p = n.optimizer().state(which);
             if (p == nullptr) return py::none();
             return view(p, n.num_params(), self);
           })
      .def_property(
          "step_count", [](VaeNetwork& n) { return n.optimizer().step_count(); },
          [](VaeNetwork& n, long long s) { n.optimizer().set_step_count(s); })
      .def("set_learning_rate",
           [](VaeNetwork& n, double lr) { n.optimizer().set_learning_rate(lr); })
      .def("set_seed", &VaeNetwork::set_seed)
      .def_property_readonly("latent_dim", &VaeNetwork::latent_dim)
      .def("layer_specs",
           [](const VaeNetwork& n) {
             py::list out;
             for (const VaeLayer& s : n.layers()) {
               py::dict d;
               d["d_in"] = s.d_in;
               d["d_out"] = s.d_out;
               d["weight_offset"] = s.weight_offset;
               d["bias_offset"] = s.bias_offset;
               d["owns_weight"] = true;
               d["weight_transposed"] = false;
               out.append(d);
             }
             return out;
           })
      .def("reserve", &VaeNetwork::reserve, py::call_guard<py::gil_scoped_release>())
      .def(
          "train_step",
          [](VaeNetwork& n, const FloatArray& data, const IndexArray& rows, py::object eps) {
            return run_step(n, data, rows, eps, true);
          },
          py::arg("data").noconvert(), py::arg("rows").noconvert(), py::arg("eps") = py::none())
      .def(
          "compute_gradients",
          [](VaeNetwork& n, const FloatArray& data, const IndexArray& rows, py::object eps) {
            return run_step(n, data, rows, eps, false);
          },
          py::arg("data").noconvert(), py::arg("rows").noconvert(), py::arg("eps") = py::none())
      .def(
          "encode",
          [](const VaeNetwork& n, const FloatArray& x, FloatArray out) {
            int B = static_cast<int>(x.shape(0));
            check_shape(x, {B, n.features()}, "x");
            check_shape(out, {B, 2 * n.latent_dim()}, "out");
            py::gil_scoped_release nogil;
            n.encode(x.data(), out.mutable_data(), B);
          },
          py::arg("x").noconvert(), py::arg("out").noconvert())
      .def(
          "decode",
          [](const VaeNetwork& n, const FloatArray& z, FloatArray out) {
            int B = static_cast<int>(z.shape(0));
            check_shape(z, {B, n.latent_dim()}, "z");
            check_shape(out, {B, n.features()}, "out");
            py::gil_scoped_release nogil;
            n.decode(z.data(), out.mutable_data(), B);
          },
          py::arg("z").noconvert(), py::arg("out").noconvert())
      .def(
          "reconstruction_nll",
          [](const VaeNetwork& n, const FloatArray& z, const FloatArray& x, FloatArray out) {
            int B = static_cast<int>(z.shape(0));
            check_shape(z, {B, n.latent_dim()}, "z");
            check_shape(x, {B, n.features()}, "x");
            check_shape(out, {B}, "out");
            py::gil_scoped_release nogil;
            n.reconstruction_nll(z.data(), x.data(), out.mutable_data(), B);
          },
          py::arg("z").noconvert(), py::arg("x").noconvert(), py::arg("out").noconvert());
}

}  // namespace pyae::bind
