#include "json.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace pyae::json {

namespace {

class Parser {
 public:
  Parser(const char* text, std::size_t size, int max_depth)
      : p_(text), end_(text + size), max_depth_(max_depth) {}

  Value document() {
    Value v = value(0);
    skip_space();
    if (p_ != end_) fail("trailing characters after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) { throw ParseError("malformed JSON: " + what); }

  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  char peek() {
    skip_space();
    if (p_ == end_) fail("unexpected end of input");
    return *p_;
  }

  void expect(const char* word) {
    for (const char* w = word; *w; ++w, ++p_)
      if (p_ == end_ || *p_ != *w) fail(std::string("expected ") + word);
  }

  Value value(int depth) {
    if (depth > max_depth_) fail("nested too deeply");
    Value v;
    char c = peek();
    if (c == '{') {
      v.kind = Value::Kind::object;
      ++p_;
      if (peek() == '}') { ++p_; return v; }
      for (;;) {
        if (peek() != '"') fail("object keys must be strings");
        std::string key = string();
        if (peek() != ':') fail("expected ':'");
        ++p_;
        v.object[key] = value(depth + 1);
        char d = peek();
        ++p_;
        if (d == '}') return v;
        if (d != ',') fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.kind = Value::Kind::array;
      ++p_;
      if (peek() == ']') { ++p_; return v; }
      for (;;) {
        v.array.push_back(value(depth + 1));
        char d = peek();
        ++p_;
        if (d == ']') return v;
        if (d != ',') fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.kind = Value::Kind::string;
      v.string = string();
      return v;
    }
    if (c == 't') { expect("true"); v.kind = Value::Kind::boolean; v.boolean = true; return v; }
    if (c == 'f') { expect("false"); v.kind = Value::Kind::boolean; return v; }
    if (c == 'n') { expect("null"); return v; }
    v.kind = Value::Kind::number;
    const char* start = p_;
    v.number = number();
    // Written without '.', 'e' or 'E': what Python's json and safetensors
    // take for an integer (4.0 is not a width or an offset).
    v.integer = std::all_of(start, p_, [](char ch) { return ch == '-' || std::isdigit(static_cast<unsigned char>(ch)); });
    return v;
  }

  std::string string() {
    ++p_;  // opening quote
    std::string out;
    while (true) {
      if (p_ == end_) fail("unterminated string");
      char c = *p_++;
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') { out.push_back(c); continue; }
      if (p_ == end_) fail("unterminated escape");
      char e = *p_++;
      switch (e) {
        case '"': case '\\': case '/': out.push_back(e); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          if (end_ - p_ < 4) fail("short \\u escape");
          unsigned code = 0;
          for (int i = 0; i < 4; ++i) {
            char h = *p_++;
            code <<= 4;
            if (h >= '0' && h <= '9') code |= h - '0';
            else if (h >= 'a' && h <= 'f') code |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') code |= h - 'A' + 10;
            else fail("bad \\u escape");
          }
          // Model headers are ASCII; keep other code points as UTF-8 bytes.
          if (code < 0x80) out.push_back(static_cast<char>(code));
          else if (code < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (code >> 6)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xE0 | (code >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          }
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  double number() {
    const char* start = p_;
    while (p_ != end_ && (std::isdigit(static_cast<unsigned char>(*p_)) || *p_ == '-' ||
                          *p_ == '+' || *p_ == '.' || *p_ == 'e' || *p_ == 'E'))
      ++p_;
    if (p_ == start || p_ - start > 64) fail("bad number");
    std::string text(start, p_);
    char* parsed_end = nullptr;
    double v = std::strtod(text.c_str(), &parsed_end);
    if (parsed_end != text.c_str() + text.size() || !std::isfinite(v)) fail("bad number");
    return v;
  }

  const char* p_;
  const char* end_;
  int max_depth_;
};

}  // namespace

const Value* Value::find(const std::string& key) const {
  if (kind != Kind::object) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &it->second;
}

const Value& Value::at(const std::string& key) const {
  const Value* v = find(key);
  if (v == nullptr) throw ParseError("missing field '" + key + "'");
  return *v;
}

Value parse(const char* text, std::size_t size, int max_depth) {
  return Parser(text, size, max_depth).document();
}

}  // namespace pyae::json
