// Small utilities of the standalone GPU check: reading fixtures, random images, comparisons and a
// result log that prints a line per check and writes JSON.
#pragma once
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpucheck {

inline std::vector<uint8_t> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The numbers after `"key":` in a flat JSON document: one for a scalar, several for an array.
inline std::vector<double> jsonNumbers(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\"");
  if (at == std::string::npos) throw std::runtime_error("case.json lacks " + key);
  size_t p = json.find(':', at) + 1;
  while (p < json.size() && std::isspace(static_cast<unsigned char>(json[p]))) ++p;
  const bool array = json[p] == '[';
  const size_t end = array ? json.find(']', p) : json.find_first_of(",}\n", p);
  std::string body = json.substr(array ? p + 1 : p, end - (array ? p + 1 : p));
  for (char& c : body) c = c == ',' ? ' ' : c;
  std::istringstream in(body);
  std::vector<double> values;
  double v;
  while (in >> v) values.push_back(v);
  return values;
}

struct Fixture {
  std::string name;
  int width = 0;
  int height = 0;
  double exposure = 0;
  std::vector<double> features;
  std::vector<double> curve;
  double f32MaxAbs = 0, u8MaxAbs = 0, u8MismatchFraction = 0, fastMinPsnr = 0, fastU8MaxAbs = 0;
  std::vector<uint8_t> input;     // RGB
  std::vector<float> expected;    // RGB float output
};

inline Fixture loadFixture(const std::string& dir, const std::string& name) {
  Fixture f;
  f.name = name;
  const std::vector<uint8_t> jsonBytes = readFile(dir + "/case.json");
  const std::string json(jsonBytes.begin(), jsonBytes.end());
  f.width = static_cast<int>(jsonNumbers(json, "width").at(0));
  f.height = static_cast<int>(jsonNumbers(json, "height").at(0));
  f.exposure = jsonNumbers(json, "exposure").at(0);
  f.features = jsonNumbers(json, "features");
  f.curve = jsonNumbers(json, "curve");
  f.f32MaxAbs = jsonNumbers(json, "f32_max_abs").at(0);
  f.u8MaxAbs = jsonNumbers(json, "u8_max_abs").at(0);
  f.u8MismatchFraction = jsonNumbers(json, "u8_mismatch_fraction").at(0);
  f.fastMinPsnr = jsonNumbers(json, "fast_mode_min_psnr_db").at(0);
  f.fastU8MaxAbs = jsonNumbers(json, "fast_mode_u8_max_abs").at(0);
  f.input = readFile(dir + "/input.u8");
  const std::vector<uint8_t> raw = readFile(dir + "/expected.f32");
  f.expected.resize(raw.size() / sizeof(float));
  std::memcpy(f.expected.data(), raw.data(), f.expected.size() * sizeof(float));
  const size_t pixels = static_cast<size_t>(f.width) * f.height;
  if (f.input.size() != pixels * 3 || f.expected.size() != pixels * 3) {
    throw std::runtime_error("fixture " + name + " has inconsistent sizes");
  }
  return f;
}

// A dim random image with smooth structure plus noise, like the low-light photos the model sees.
inline std::vector<uint8_t> randomImage(int width, int height, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-12, 12);
  std::vector<uint8_t> img(static_cast<size_t>(width) * height * channels);
  const double fx = 0.013 + (seed % 7) * 0.004, fy = 0.021 + (seed % 5) * 0.003;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        const double base = 40 + 35 * std::sin(fx * x + c) * std::cos(fy * y - c);
        const int v = static_cast<int>(base) + noise(rng);
        img[(static_cast<size_t>(y) * width + x) * channels + c] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
      }
  return img;
}

struct Diff {
  double maxAbs = 0;
  double psnr = INFINITY;
};

// Compares the colour channels of two float images with `channels` values per pixel.
inline Diff compareFloat(const float* a, const float* b, size_t pixels, int channels) {
  Diff d;
  double sq = 0;
  for (size_t p = 0; p < pixels; ++p)
    for (int c = 0; c < 3; ++c) {
      const double e = static_cast<double>(a[p * channels + c]) - b[p * channels + c];
      d.maxAbs = std::fmax(d.maxAbs, std::fabs(e));
      sq += e * e;
    }
  const double mse = sq / (3.0 * pixels);
  d.psnr = mse > 0 ? 10.0 * std::log10(1.0 / mse) : INFINITY;
  return d;
}

// The docs/numerics.md 8-bit rounding of a float output.
inline uint8_t toU8(float y) {
  const double v = std::floor(std::fmin(std::fmax(static_cast<double>(y) * 255.0 + 0.5, 0.0), 255.0));
  return static_cast<uint8_t>(v);
}

class Log {
 public:
  void check(const std::string& name, bool ok, const std::string& detail) {
    std::printf("%-4s %-58s %s\n", ok ? "ok" : "FAIL", name.c_str(), detail.c_str());
    std::fflush(stdout);
    failures_ += ok ? 0 : 1;
    checks_.push_back("{\"name\":" + quote(name) + ",\"ok\":" + (ok ? "true" : "false") + ",\"detail\":" +
                      quote(detail) + "}");
  }
  void timing(const std::string& json) { timings_.push_back(json); }
  // An extra top-level JSON member (`json` is its already-encoded value).
  void section(const std::string& key, const std::string& json) { sections_.push_back(quote(key) + ":" + json); }
  int failures() const { return failures_; }
  int checks() const { return static_cast<int>(checks_.size()); }
  void writeJson(const std::string& path, const std::string& device) const {
    std::ofstream out(path);
    out << "{\"device\":" << quote(device) << ",\"failures\":" << failures_ << ",\"checks\":[";
    for (size_t i = 0; i < checks_.size(); ++i) out << (i ? "," : "") << checks_[i];
    out << "],\"timings\":[";
    for (size_t i = 0; i < timings_.size(); ++i) out << (i ? "," : "") << timings_[i];
    out << "]";
    for (const std::string& section : sections_) out << "," << section;
    out << "}\n";
  }
  static std::string quote(const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return q + "\"";
  }

 private:
  int failures_ = 0;
  std::vector<std::string> checks_;
  std::vector<std::string> timings_;
  std::vector<std::string> sections_;
};

inline std::string fmt(const char* format, double a, double b = 0, double c = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, format, a, b, c);
  return buf;
}

}  // namespace gpucheck
