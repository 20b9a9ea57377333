// Binding of the standalone inference library (csrc/infer), so tests and the
// fuzz target can drive its loader and forward pass from Python.
#include "../infer/pyae_infer.h"
#include "checks.h"

#include <memory>
#include <string>

namespace pyae::bind {

namespace {

struct CModel {
  std::unique_ptr<pyae_model, void (*)(pyae_model*)> ptr{nullptr, pyae_model_free};
};

}  // namespace

void register_infer(py::module_& m) {
  py::class_<CModel>(m, "CModel")
      .def(py::init([](py::bytes data) {
             std::string bytes = data;
             char err[512] = {0};
             auto model = std::make_unique<CModel>();
             model->ptr.reset(pyae_model_load_bytes(
                 reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), err,
                 sizeof err));
             if (!model->ptr) throw py::value_error(err);
             return model;
           }),
           py::arg("data"))
      .def("input_dim",
           [](const CModel& c, int part) {
             return pyae_model_input_dim(c.ptr.get(), static_cast<pyae_part>(part));
           })
      .def("output_dim",
           [](const CModel& c, int part) {
             return pyae_model_output_dim(c.ptr.get(), static_cast<pyae_part>(part));
           })
      .def("set_precision",
           [](CModel& c, const std::string& precision) {
             char err[512] = {0};
             if (pyae_model_set_precision(c.ptr.get(), precision.c_str(), err, sizeof err) != 0)
               throw py::value_error(err);
           })
      .def("forward", [](const CModel& c, int part, const FloatArray& x) {
        auto p = static_cast<pyae_part>(part);
        int d_in = pyae_model_input_dim(c.ptr.get(), p);
        if (d_in < 0) throw py::value_error("unknown part");
        if (x.ndim() != 2 || x.shape(1) != d_in) throw py::value_error("x has the wrong shape");
        FloatArray out({x.shape(0), static_cast<py::ssize_t>(pyae_model_output_dim(c.ptr.get(), p))});
        char err[512] = {0};
        int rc;
        {
          py::gil_scoped_release nogil;
          rc = pyae_model_forward(c.ptr.get(), p, x.data(), dim(x, 0),
                                  out.mutable_data(), err, sizeof err);
        }
        if (rc != 0) throw py::value_error(err);
        return out;
      });
}

}  // namespace pyae::bind
