#include "train/train_losses.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/losses_formulas.h"

namespace flwnet::train {
namespace {

using losses::clampCosine;
using losses::kCosineEps;
using losses::kSsimRadius;
using losses::kSsimTaps;

constexpr int kChannels = 3;

// f(c) = (1 - c) + acos(clamp(c)) and its derivative (acos' is 0 where the clamp is active).
double cosineLoss(double c) { return (1.0 - c) + std::acos(clampCosine(c)); }
double cosineLossSlope(double c) { return -1.0 - (std::fabs(c) < 1.0 ? 1.0 / std::sqrt((1.0 - c) * (1.0 + c)) : 0.0); }

double sign(double d) { return d > 0.0 ? 1.0 : (d < 0.0 ? -1.0 : 0.0); }

// out = G * in (11x11 Gaussian, zero padding), separable; `tmp` is scratch of (h + 10) x (w + 10).
// Rows are copied into a zero-bordered buffer so that both passes are plain fixed-length loops
// the compiler vectorises.
#if defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default")))
#endif
void gaussianBlur(const double* in, int h, int w, const double* taps, double* tmp, double* out) {
  const int pw = w + 2 * kSsimRadius;
  static thread_local std::vector<double> row;  // zero borders; reused so the 8 blurs per plane do not allocate
  row.assign(pw, 0.0);
  // Horizontal pass into tmp rows kSsimRadius..kSsimRadius + h (rows above and below stay zero).
  std::fill(tmp, tmp + size_t(h + 2 * kSsimRadius) * w, 0.0);
  for (int y = 0; y < h; ++y) {
    std::copy(in + size_t(y) * w, in + size_t(y + 1) * w, row.begin() + kSsimRadius);
    double* dst = tmp + size_t(y + kSsimRadius) * w;
    for (int k = 0; k < kSsimTaps; ++k) {
      const double* src = row.data() + k;
      const double tk = taps[k];
      for (int x = 0; x < w; ++x) dst[x] += tk * src[x];
    }
  }
  for (int y = 0; y < h; ++y) {
    double* dst = out + size_t(y) * w;
    std::fill(dst, dst + w, 0.0);
    for (int k = 0; k < kSsimTaps; ++k) {
      const double* src = tmp + size_t(y + k) * w;
      const double tk = taps[k];
      for (int x = 0; x < w; ++x) dst[x] += tk * src[x];
    }
  }
}

// One plane's SSIM: returns the sum of the map and writes d(scale * sum map)/dE into dE.
double ssimPlane(const double* e, const double* yv, int h, int w, double scale, double* dE) {
  double taps[kSsimTaps];
  losses::ssimGaussianTaps(taps);
  const size_t n = size_t(h) * w;
  const size_t padded = size_t(h + 2 * kSsimRadius) * w;
  static thread_local std::vector<double> buf;  // per worker thread, reused across steps
  buf.resize(n * 10 + padded);  // every plane is written before it is read (gaussianBlur clears tmp and out)
  double *ee = buf.data(), *yy = ee + n, *ey = yy + n, *tmp = buf.data() + 10 * n;
  double *mu1 = ey + n, *mu2 = mu1 + n, *sxx = mu2 + n, *syy = sxx + n, *sxy = syy + n, *g1 = sxy + n, *g2 = g1 + n;
  for (size_t i = 0; i < n; ++i) {
    ee[i] = e[i] * e[i];
    yy[i] = yv[i] * yv[i];
    ey[i] = e[i] * yv[i];
  }
  gaussianBlur(e, h, w, taps, tmp, mu1);
  gaussianBlur(yv, h, w, taps, tmp, mu2);
  gaussianBlur(ee, h, w, taps, tmp, sxx);
  gaussianBlur(yy, h, w, taps, tmp, syy);
  gaussianBlur(ey, h, w, taps, tmp, sxy);
  double sum = 0.0;
  // Per pixel: the map's derivatives with respect to mu1, G*(E^2) and G*(E Y), into ee, yy, ey.
  for (size_t i = 0; i < n; ++i) {
    const double m1 = mu1[i], m2 = mu2[i];
    const double a1 = 2.0 * m1 * m2 + losses::kSsimC1, a2 = 2.0 * (sxy[i] - m1 * m2) + losses::kSsimC2;
    const double b1 = m1 * m1 + m2 * m2 + losses::kSsimC1, b2 = (sxx[i] - m1 * m1) + (syy[i] - m2 * m2) + losses::kSsimC2;
    const double map = (a1 * a2) / (b1 * b2);
    sum += map;
    ee[i] = scale * map * (2.0 * m2 / a1 - 2.0 * m2 / a2 - 2.0 * m1 / b1 + 2.0 * m1 / b2);
    yy[i] = scale * -map / b2;
    ey[i] = scale * map * 2.0 / a2;
  }
  // The window is symmetric and zero-padded, so its transpose is the same blur.
  gaussianBlur(ee, h, w, taps, tmp, mu1);
  gaussianBlur(yy, h, w, taps, tmp, g1);
  gaussianBlur(ey, h, w, taps, tmp, g2);
  for (size_t i = 0; i < n; ++i) dE[i] += mu1[i] + 2.0 * e[i] * g1[i] + yv[i] * g2[i];
  return sum;
}

// One image's share of the consistency loss C(A, B) over K channels of n values (docs/numerics.md 7, 8):
// returns it and adds weight * d(share)/dA into dA. Channel minima are constants.
double consistencyImage(const double* const* a, const double* const* b, int k, size_t n, int batch, double weight,
                        double* const* dA) {
  std::vector<double> p(k), na(k), nb(k), minA(k), minB(k), ck(k);
  for (int c = 0; c < k; ++c) {
    minA[c] = std::fabs(*std::min_element(a[c], a[c] + n));
    minB[c] = std::fabs(*std::min_element(b[c], b[c] + n));
    double sab = 0.0, saa = 0.0, sbb = 0.0;
    for (size_t i = 0; i < n; ++i) {
      const double x = a[c][i] - minA[c], y = b[c][i] - minB[c];
      sab += x * y;
      saa += x * x;
      sbb += y * y;
    }
    p[c] = sab / n;
    na[c] = std::sqrt(saa / n);
    nb[c] = std::sqrt(sbb / n);
    ck[c] = p[c] / (na[c] * nb[c] + kCosineEps);
  }
  double P = 0.0, SA = 0.0, SB = 0.0, share = 0.0;
  for (int c = 0; c < k; ++c) {
    P += p[c] / k;
    SA += na[c] * na[c] / k;
    SB += nb[c] * nb[c] / k;
    share += cosineLoss(ck[c]) / (double(batch) * k);
  }
  const double NA = std::sqrt(SA), NB = std::sqrt(SB), D = NA * NB + kCosineEps, call = P / D;
  share += cosineLoss(call) / batch;
  const double gAll = weight * cosineLossSlope(call) / batch;
  for (int c = 0; c < k; ++c) {
    const double Dk = na[c] * nb[c] + kCosineEps;
    const double gk = weight * cosineLossSlope(ck[c]) / (double(batch) * k);
    const double gp = gk / Dk + gAll / (k * D);
    double gsa = 0.0;  // gradient of mean(A'^2) of this channel
    if (na[c] > 0.0) gsa += gk * (-p[c] * nb[c] / (Dk * Dk)) / (2.0 * na[c]);
    if (NA > 0.0) gsa += gAll * (-P * NB / (D * D)) / (2.0 * NA * k);
    for (size_t i = 0; i < n; ++i) {
      dA[c][i] += (gp * (b[c][i] - minB[c]) + 2.0 * gsa * (a[c][i] - minA[c])) / n;
    }
  }
  return share;
}

// The six |difference| planes of one image (horizontal R, G, B, then vertical R, G, B).
void differencePlanes(const double* img, int h, int w, double* out) {
  const size_t n = size_t(h) * w;
  for (int c = 0; c < kChannels; ++c) {
    const double* s = img + c * n;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const double v = s[size_t(y) * w + x];
        const double right = x + 1 < w ? s[size_t(y) * w + x + 1] : 0.0;
        const double below = y + 1 < h ? s[size_t(y + 1) * w + x] : 0.0;
        out[c * n + size_t(y) * w + x] = std::fabs(v - right);
        out[(c + 3) * n + size_t(y) * w + x] = std::fabs(v - below);
      }
  }
}

// Adds the gradient of the difference planes (dD) back onto the image gradient.
void differenceBackward(const double* img, int h, int w, const double* dD, double* dImg) {
  const size_t n = size_t(h) * w;
  for (int c = 0; c < kChannels; ++c) {
    const double* s = img + c * n;
    double* g = dImg + c * n;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const size_t i = size_t(y) * w + x;
        const double right = x + 1 < w ? s[i + 1] : 0.0;
        const double below = y + 1 < h ? s[i + w] : 0.0;
        const double gh = dD[c * n + i] * sign(s[i] - right);
        const double gv = dD[(c + 3) * n + i] * sign(s[i] - below);
        g[i] += gh + gv;
        if (x + 1 < w) g[i + 1] -= gh;
        if (y + 1 < h) g[i + w] -= gv;
      }
  }
}

// L1, colour, brightness and structure of image `b`; adds their weighted gradients into dE.
std::array<double, 4> pixelLossesImage(const LossBatch& lb, int b, const std::array<double, kLossCount>& wts, double* dE) {
  const size_t n = size_t(lb.height) * lb.width;
  const double* e = lb.enhanced + size_t(b) * kChannels * n;
  const double* y = lb.reference + size_t(b) * kChannels * n;
  const double total = double(lb.batch) * n;
  double l1 = 0.0, color = 0.0;
  for (size_t i = 0; i < n; ++i) {
    double pe = 0.0, ee = 0.0, yy = 0.0;
    for (int c = 0; c < kChannels; ++c) {
      const double d = e[c * n + i] - y[c * n + i];
      l1 += std::fabs(d);
      dE[c * n + i] += wts[0] * sign(d) / (total * kChannels);
      pe += e[c * n + i] * y[c * n + i];
      ee += e[c * n + i] * e[c * n + i];
      yy += y[c * n + i] * y[c * n + i];
    }
    const double P = pe / kChannels, sa = std::sqrt(ee / kChannels), sb = std::sqrt(yy / kChannels);
    const double D = sa * sb + kCosineEps, c = P / D;
    color += cosineLoss(c);
    const double g = wts[2] * cosineLossSlope(c) / total;
    for (int ch = 0; ch < kChannels; ++ch) {
      const double viaNorm = sa > 0.0 ? P / (D * D) * sb * e[ch * n + i] / (kChannels * sa) : 0.0;
      dE[ch * n + i] += g * (y[ch * n + i] / (kChannels * D) - viaNorm);
    }
  }
  const double* ea[kChannels] = {e, e + n, e + 2 * n};
  const double* ya[kChannels] = {y, y + n, y + 2 * n};
  double* da[kChannels] = {dE, dE + n, dE + 2 * n};
  const double brightness = consistencyImage(ea, ya, kChannels, n, lb.batch, wts[3], da);
  static thread_local std::vector<double> diffs, dD;  // per worker thread, reused across steps
  diffs.resize(12 * n);  // differencePlanes writes every value
  double *de = diffs.data(), *dy = de + 6 * n;
  differencePlanes(e, lb.height, lb.width, de);
  differencePlanes(y, lb.height, lb.width, dy);
  dD.assign(6 * n, 0.0);
  const double* sa6[6];
  const double* sy6[6];
  double* sd6[6];
  for (int c = 0; c < 6; ++c) {
    sa6[c] = de + c * n;
    sy6[c] = dy + c * n;
    sd6[c] = dD.data() + c * n;
  }
  const double structure = consistencyImage(sa6, sy6, 6, n, lb.batch, wts[4], sd6);
  differenceBackward(e, lb.height, lb.width, dD.data(), dE);
  return {l1 / (total * kChannels), color / total, brightness, structure};
}

}  // namespace

void referencePlanes(const TrainBatchView& batch, std::vector<double>& out) {
  const size_t n = size_t(batch.width) * batch.height;
  out.resize(batch.examples.size() * kChannels * n);
  for (size_t b = 0; b < batch.examples.size(); ++b)
    for (size_t i = 0; i < n; ++i)
      for (int c = 0; c < kChannels; ++c) out[(b * kChannels + c) * n + i] = batch.examples[b].high[i * 3 + c] / 255.0;
}

TrainLosses batchLossesAndGradient(const LossBatch& lb, const std::array<double, kLossCount>& weights,
                                   std::vector<double>& dE, cpu::ThreadPool& pool) {
  const size_t n = size_t(lb.height) * lb.width;
  const size_t planes = size_t(lb.batch) * kChannels;
  dE.assign(planes * n, 0.0);
  std::vector<double> ssimSums(planes, 0.0);
  const double ssimScale = -weights[1] / (double(planes) * n);
  pool.run(planes, [&](size_t plane, int) {
    ssimSums[plane] = ssimPlane(lb.enhanced + plane * n, lb.reference + plane * n, lb.height, lb.width, ssimScale,
                                dE.data() + plane * n);
  });
  std::vector<std::array<double, 4>> parts(lb.batch);
  pool.run(lb.batch, [&](size_t b, int) {
    parts[b] = pixelLossesImage(lb, static_cast<int>(b), weights, dE.data() + b * kChannels * n);
  });
  TrainLosses out;
  double ssim = 0.0;
  for (double s : ssimSums) ssim += s;  // fixed order: plane by plane
  out.ssimLoss = 1.0 - ssim / (double(planes) * n);
  for (const auto& p : parts) {
    out.l1 += p[0];
    out.color += p[1];
    out.brightness += p[2];
    out.structure += p[3];
  }
  out.total = out.l1 + out.ssimLoss + out.color + out.brightness + out.structure;
  return out;
}

}  // namespace flwnet::train
