// A small, bounded JSON parser for model-file headers (untrusted input):
// depth, size and number limits are enforced, every error is an exception
// with a message, nothing is read past the end of the buffer.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace pyae::json {

struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Value {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool boolean = false;
  double number = 0.0;
  bool integer = false;  // a number written as an integer literal
  std::string string;
  std::vector<Value> array;
  std::map<std::string, Value> object;

  const Value* find(const std::string& key) const;  // null if absent or not an object
  const Value& at(const std::string& key) const;    // throws ParseError if absent
  bool is(Kind k) const { return kind == k; }
};

// Parses text[0, size); at most max_depth nested arrays/objects.
Value parse(const char* text, std::size_t size, int max_depth = 32);

}  // namespace pyae::json
