// Bindings of the stateless kernels (pyae.ops wraps these).
#include "kernels/bf16_gemm.h"
#include "kernels/dense.h"
#include "math/elementwise_math.h"
#include "kernels/int8_gemm.h"
#include "kernels/loss.h"
#include "kernels/optimizer_update.h"
#include "runtime/parallel.h"
#include "runtime/scratch.h"
#include "checks.h"

namespace pyae::bind {

namespace {

// The C of C = op(a) . op(b) + beta * c in the GEMM test bindings: a new
// (M, N) array (beta then 0) when c is None, else the caller's, checked.
FloatArray gemm_output(const py::object& c_obj, int M, int N, float& beta) {
  if (c_obj.is_none()) {
    beta = 0.0f;
    return FloatArray({M, N});
  }
  // c is written in place: a copy (another dtype or layout) would leave the
  // caller's array untouched.
  if (!py::isinstance<FloatArray>(c_obj))
    throw py::type_error("c must be a C-contiguous float32 array: it is written in place");
  FloatArray c = c_obj.cast<FloatArray>();
  check_shape(c, {M, N}, "c");
  check_writeable(c, "c");
  return c;
}

// The instruction path a name means; ValueError for an unknown name.
Bf16Path bf16_path_named(const std::string& name) {
#define PYAE_BF16_PATH_PARSE(value, code) \
  if (name == #value) return Bf16Path::value;
  PYAE_BF16_PATHS(PYAE_BF16_PATH_PARSE)
#undef PYAE_BF16_PATH_PARSE
  throw py::value_error("unknown bf16 path '" + name + "'");
}

Int8Path int8_path_named(const std::string& name) {
#define PYAE_INT8_PATH_PARSE(value, code) \
  if (name == #value) return Int8Path::value;
  PYAE_INT8_PATHS(PYAE_INT8_PATH_PARSE)
#undef PYAE_INT8_PATH_PARSE
  throw py::value_error("unknown int8 path '" + name + "'");
}

// `path` when a kernel can run on it here; ValueError otherwise ("none" included).
template <class Path>
Path runnable(Path path, bool (*available)(Path), const char* kind, const std::string& name) {
  if (path == Path::none || !available(path))
    throw py::value_error(std::string(kind) + " path '" + name + "' is not available on this CPU");
  return path;
}

// force_*_path(path), its std::invalid_argument as a ValueError.
template <class Path>
void force_path(Path path, void (*force)(Path)) {
  try {
    force(path);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
}

}  // namespace

void register_ops(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("kernel_threads", &kernel_threads);
  m.def("simd_level", &simd_level);
  m.def("scratch_allocations", &scratch_allocations);

  // The bf16 and int8 instruction paths: name -> whether this CPU (and OS) runs it.
  m.def("bf16_paths", [] {
    py::dict paths;
#define PYAE_BF16_PATH_ENTRY(name, code) \
  if (Bf16Path::name != Bf16Path::none) paths[#name] = bf16_path_available(Bf16Path::name);
    PYAE_BF16_PATHS(PYAE_BF16_PATH_ENTRY)
#undef PYAE_BF16_PATH_ENTRY
    return paths;
  });
  m.def("int8_paths", [] {
    py::dict paths;
#define PYAE_INT8_PATH_ENTRY(name, code) \
  if (Int8Path::name != Int8Path::none) paths[#name] = int8_path_available(Int8Path::name);
    PYAE_INT8_PATHS(PYAE_INT8_PATH_ENTRY)
#undef PYAE_INT8_PATH_ENTRY
    return paths;
  });
  m.def("bf16_best_path", [] { return std::string(bf16_path_name(bf16_best_path())); });
  m.def("int8_best_path", [] { return std::string(int8_path_name(int8_best_path())); });
  m.def(
      "force_bf16_path",
      [](const std::string& name) {
        if (name == "auto") return unforce_bf16_path();
        force_path(bf16_path_named(name), force_bf16_path);
      },
      py::arg("path"),
      "Makes precision='bf16' networks made from now on take `path` ('auto' undoes it;\n"
      "'none' pretends this CPU has no bf16). For tests and benchmarks.");
  m.def(
      "force_int8_path",
      [](const std::string& name) {
        if (name == "auto") return unforce_int8_path();
        force_path(int8_path_named(name), force_int8_path);
      },
      py::arg("path"), "As force_bf16_path, for precision='int8'.");
  // C = alpha * bf16(op(a)) . bf16(op(b)) + beta * c on one named path (tests).
  m.def(
      "bf16_gemm",
      [](const FloatArray& a, const FloatArray& b, bool trans_a, bool trans_b,
         const std::string& path, float alpha, float beta, py::object c_obj) {
        if (a.ndim() != 2 || b.ndim() != 2) throw py::value_error("a and b must be 2-D");
        const int M = dim(a, trans_a ? 1 : 0), K = dim(a, trans_a ? 0 : 1);
        const int N = dim(b, trans_b ? 0 : 1);
        if (dim(b, trans_b ? 1 : 0) != K) throw py::value_error("a and b do not chain");
        const Bf16Path p = runnable(bf16_path_named(path), bf16_path_available, "bf16", path);
        FloatArray c = gemm_output(c_obj, M, N, beta);
        {
          py::gil_scoped_release nogil;
          bf16_gemm(trans_a, trans_b, M, N, K, alpha, a.data(), dim(a, 1), b.data(), dim(b, 1),
                    beta, c.mutable_data(), N, p);
        }
        return c;
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("trans_a") = false,
      py::arg("trans_b") = false, py::arg("path"), py::arg("alpha") = 1.0f,
      py::arg("beta") = 0.0f, py::arg("c") = py::none());
  // C = a . op(b) + beta * c on pyae's fp32 AVX-512 tile (tests); None
  // when this CPU lacks AVX-512.
  m.def(
      "fp32_gemm",
      [](const FloatArray& a, const FloatArray& b, bool trans_b, float beta,
         py::object c_obj) -> py::object {
        if (a.ndim() != 2 || b.ndim() != 2) throw py::value_error("a and b must be 2-D");
        const int M = dim(a, 0), K = dim(a, 1);
        const int N = dim(b, trans_b ? 0 : 1);
        if (dim(b, trans_b ? 1 : 0) != K) throw py::value_error("a and b do not chain");
        if (beta != 0.0f && beta != 1.0f) throw py::value_error("beta is 0 or 1");
        FloatArray c = gemm_output(c_obj, M, N, beta);
        bool ran;
        {
          py::gil_scoped_release nogil;
          ran = fp32_gemm(trans_b, M, N, K, a.data(), K, b.data(), dim(b, 1), beta,
                          c.mutable_data(), N);
        }
        return ran ? py::object(c) : py::object(py::none());
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("trans_b") = false,
      py::arg("beta") = 0.0f, py::arg("c") = py::none());
  // (M, N) int8 GEMM of a (M, K) with b (K, N), b quantised per column (tests).
  m.def(
      "int8_gemm",
      [](const FloatArray& a, const FloatArray& b, const std::string& path) {
        if (a.ndim() != 2 || b.ndim() != 2 || dim(a, 1) != dim(b, 0) || dim(a, 1) < 1 ||
            dim(b, 1) < 1)
          throw py::value_error("a (M, K) and b (K, N) must chain, K, N >= 1");
        const Int8Path p = runnable(int8_path_named(path), int8_path_available, "int8", path);
        const int M = dim(a, 0), K = dim(a, 1), N = dim(b, 1);
        FloatArray c({M, N});
        {
          py::gil_scoped_release nogil;
          Int8PackedB packed(false, K, N, b.data(), N);
          int8_gemm_packed(M, 0, N, a.data(), K, packed, c.mutable_data(), N, p);
        }
        return c;
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("path"));

  m.def(
      "dense_forward",
      [](FloatArray out, const FloatArray& inp, const FloatArray& weight, const FloatArray& bias,
         Activation act, bool weight_transposed, py::object pre_obj) {
        if (inp.ndim() != 2) throw py::value_error("inp must be 2-D (B, D_in)");
        int B = dim(inp, 0), D_in = dim(inp, 1);
        int D_out = dim(bias, 0);
        check_shape(bias, {D_out}, "bias");
        if (weight_transposed) check_shape(weight, {D_in, D_out}, "weight");
        else check_shape(weight, {D_out, D_in}, "weight");
        check_shape(out, {B, D_out}, "out");
        check_writeable(out, "out");
        FloatArray pre;
        float* pre_ptr = optional_array(pre_obj, &pre, {B, D_out}, "pre", true);
        DenseDims d{B, D_in, D_out, act, weight_transposed};
        py::gil_scoped_release nogil;
        dense_forward(out.mutable_data(), inp.data(), weight.data(), bias.data(), d, pre_ptr);
      },
      py::arg("out").noconvert(), py::arg("inp").noconvert(), py::arg("weight").noconvert(),
      py::arg("bias").noconvert(), py::arg("act"), py::arg("weight_transposed"),
      py::arg("pre") = py::none());

  m.def(
      "dense_backward",
      [](py::object dinp_obj, FloatArray dweight, FloatArray dbias, FloatArray dpre,
         const FloatArray& dout, const FloatArray& out, const FloatArray& inp,
         const FloatArray& weight, Activation act, bool weight_transposed, py::object pre_obj) {
        if (inp.ndim() != 2 || dout.ndim() != 2) throw py::value_error("inp and dout must be 2-D");
        int B = dim(inp, 0), D_in = dim(inp, 1);
        int D_out = dim(dout, 1);
        check_shape(dout, {B, D_out}, "dout");
        check_shape(out, {B, D_out}, "out");
        check_shape(dpre, {B, D_out}, "dpre");
        check_shape(dbias, {D_out}, "dbias");
        if (weight_transposed) {
          check_shape(weight, {D_in, D_out}, "weight");
          check_shape(dweight, {D_in, D_out}, "dweight");
        } else {
          check_shape(weight, {D_out, D_in}, "weight");
          check_shape(dweight, {D_out, D_in}, "dweight");
        }
        FloatArray dinp;
        float* dinp_ptr = optional_array(dinp_obj, &dinp, {B, D_in}, "dinp", true);
        FloatArray pre;
        const float* pre_ptr = optional_array(pre_obj, &pre, {B, D_out}, "pre", false);
        if (pre_ptr == nullptr && needs_preactivation(act))
          throw py::value_error("this activation's gradient needs pre (the pre-activation)");
        DenseDims d{B, D_in, D_out, act, weight_transposed};
        py::gil_scoped_release nogil;
        dense_backward(dinp_ptr, dweight.mutable_data(), dbias.mutable_data(), dpre.mutable_data(),
                       dout.data(), out.data(), pre_ptr, inp.data(), weight.data(), d);
      },
      py::arg("dinp"), py::arg("dweight").noconvert(), py::arg("dbias").noconvert(),
      py::arg("dpre").noconvert(), py::arg("dout").noconvert(), py::arg("out").noconvert(),
      py::arg("inp").noconvert(), py::arg("weight").noconvert(), py::arg("act"),
      py::arg("weight_transposed"), py::arg("pre") = py::none());

  m.def(
      "all_finite",
      [](const FloatArray& x) {
        py::gil_scoped_release nogil;
        return all_finite(x.data(), static_cast<std::size_t>(x.size()));
      },
      py::arg("x").noconvert());

  m.def(
      "activation_forward",
      [](FloatArray out, const FloatArray& inp, Activation act) {
        if (out.size() != inp.size()) throw py::value_error("out and inp differ in size");
        check_writeable(out, "out");
        py::gil_scoped_release nogil;
        activation_forward(out.mutable_data(), inp.data(), static_cast<std::size_t>(inp.size()),
                           act);
      },
      py::arg("out").noconvert(), py::arg("inp").noconvert(), py::arg("act"));
  // The scalar formula element by element, compiled for the baseline ISA:
  // what every vectorised or hand-written path must reproduce bit for bit.
  m.def(
      "activation_reference",
      [](FloatArray out, const FloatArray& inp, Activation act) {
        if (out.size() != inp.size()) throw py::value_error("out and inp differ in size");
        check_writeable(out, "out");
        float* o = out.mutable_data();
        const float* x = inp.data();
        for (py::ssize_t i = 0; i < inp.size(); ++i) o[i] = activate(x[i], act);
      },
      py::arg("out").noconvert(), py::arg("inp").noconvert(), py::arg("act"));

  m.def(
      "loss_rows",
      [](Loss loss, py::object grad_obj, FloatArray row_loss, const FloatArray& pred,
         const FloatArray& target) {
        if (pred.ndim() != 2) throw py::value_error("pred must be 2-D (B, D)");
        int B = dim(pred, 0), D = dim(pred, 1);
        check_shape(target, {B, D}, "target");
        check_shape(row_loss, {B}, "row_loss");
        FloatArray grad;
        float* grad_ptr = optional_array(grad_obj, &grad, {B, D}, "grad", true);
        py::gil_scoped_release nogil;
        return loss == Loss::bce
                   ? bce_logits_loss_rows(grad_ptr, row_loss.mutable_data(), pred.data(),
                                              target.data(), B, D)
                   : mse_loss_rows(grad_ptr, row_loss.mutable_data(), pred.data(),
                                       target.data(), B, D);
      },
      py::arg("loss"), py::arg("grad"), py::arg("row_loss").noconvert(),
      py::arg("pred").noconvert(), py::arg("target").noconvert());

  m.def(
      "adam_update",
      [](FloatArray params, FloatArray m1, FloatArray m2, FloatArray grads, double lr,
         double beta1, double beta2, double eps, long long step) {
        py::ssize_t n = params.size();
        check_shape(m1, {n}, "m");
        check_shape(m2, {n}, "v");
        check_shape(grads, {n}, "grads");
        if (step < 1) throw py::value_error("step counts from 1");
        py::gil_scoped_release nogil;
        adam_update(params.mutable_data(), m1.mutable_data(), m2.mutable_data(),
                    GradientParts(grads.mutable_data()), static_cast<std::size_t>(n),
                    AdamConfig{lr, beta1, beta2, eps}, step, false);
      },
      py::arg("params").noconvert(), py::arg("m").noconvert(), py::arg("v").noconvert(),
      py::arg("grads").noconvert(), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
      py::arg("eps"), py::arg("step"));

  m.def(
      "sgd_momentum_update",
      [](FloatArray params, FloatArray buf, FloatArray grads, double lr, double momentum) {
        py::ssize_t n = params.size();
        check_shape(buf, {n}, "momentum_buffer");
        check_shape(grads, {n}, "grads");
        py::gil_scoped_release nogil;
        sgd_momentum_update(params.mutable_data(), buf.mutable_data(),
                            GradientParts(grads.mutable_data()),
                            static_cast<std::size_t>(n), lr, momentum, false);
      },
      py::arg("params").noconvert(), py::arg("momentum_buffer").noconvert(),
      py::arg("grads").noconvert(), py::arg("lr"), py::arg("momentum"));
}

}  // namespace pyae::bind
