// libFuzzer target for the model loader and forward pass (untrusted files).
//   cmake -S csrc/infer -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ \
//         -DCMAKE_C_COMPILER=clang -DPYAE_INFER_FUZZ=ON
//   cmake --build build/fuzz && build/fuzz/pyae_infer_fuzz CORPUS_DIR -runs=1000000
// pyae_infer_fuzz_unchecked is built without enforcing the checksums
// (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION), to reach the checks behind them.
// Every input must load or fail with an error message; ASan/UBSan watch the rest.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "pyae_infer.h"

namespace {

// "loaded", or the error message up to its first quote: printed at exit.
std::map<std::string, long>& outcomes() {
  static auto* counts = [] {
    auto* c = new std::map<std::string, long>;
    std::atexit([] {
      std::fprintf(stderr, "outcomes:");
      for (const auto& [what, n] : outcomes()) std::fprintf(stderr, " [%s] %ld;", what.c_str(), n);
      std::fprintf(stderr, "\n");
    });
    return c;
  }();
  return *counts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  char err[256];
  pyae_model* m = pyae_model_load_bytes(data, size, err, sizeof err);
  if (m == nullptr) {
    std::string what(err);
    ++outcomes()[what.substr(0, std::min<std::size_t>(what.find('\''), 70))];
    return 0;
  }
  ++outcomes()["loaded"];
  for (int part = 0; part < 3; ++part) {
    int d_in = pyae_model_input_dim(m, static_cast<pyae_part>(part));
    int d_out = pyae_model_output_dim(m, static_cast<pyae_part>(part));
    if (d_in <= 0 || d_out <= 0 || d_in > (1 << 16) || d_out > (1 << 16)) continue;
    std::vector<float> in(2 * static_cast<size_t>(d_in), 0.5f), out(2 * static_cast<size_t>(d_out));
    pyae_model_forward(m, static_cast<pyae_part>(part), in.data(), 2, out.data(), err, sizeof err);
  }
  pyae_model_free(m);
  return 0;
}
