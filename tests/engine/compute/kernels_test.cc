// The vectorized kernels against plain double-precision references, on random data of awkward
// sizes (remainders shorter than a vector, N not a multiple of the lane count), and the inline
// math of vector_math.h against the standard library on dense grids.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <tuple>
#include <vector>

#include "engine/compute/ops.h"
#include "engine/compute/vector_math.h"
#include "engine/forward/batch.h"
#include "engine/forward/time_mix_kernels.h"
#include "engine/forward/token_shift.h"
#include "engine/forward/wkv.h"
#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

using Doubles = std::vector<double>;
using Floats = std::vector<float>;

const int64_t kSizes[] = {1, 7, 8, 16, 64, 65};

Floats Random(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Floats out(n);
  for (float& x : out) x = dist(rng);
  return out;
}

// Largest |got - want| / max(|want|, floor).
double MaxRelativeError(const Floats& got, const Doubles& want, double floor = 1.0) {
  EXPECT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    worst = std::max(worst, std::fabs(got[i] - want[i]) / std::max(std::fabs(want[i]), floor));
  }
  return worst;
}

// ---- vector_math.h. The loops are cloned like the engine's kernels, so on an AVX-512 machine
// this checks the AVX-512 code; the direct calls check the scalar code.

RWKV_VECTOR_CLONES void ExpLoop(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = Exp(x[i]);
}
RWKV_VECTOR_CLONES void SigmoidLoop(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = Sigmoid(x[i]);
}
RWKV_VECTOR_CLONES void TanhLoop(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = Tanh(x[i]);
}

// Max relative error of f (vectorized loop and scalar calls) against `want` over `x`.
template <typename Loop, typename Scalar, typename Want>
double MathError(const Floats& x, Loop loop, Scalar scalar, Want want) {
  Floats y(x.size());
  loop(x.data(), static_cast<int64_t>(x.size()), y.data());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double w = want(static_cast<double>(x[i]));
    worst = std::max(worst, std::fabs(y[i] - w) / std::fabs(w));
    worst = std::max(worst, std::fabs(scalar(x[i]) - w) / std::fabs(w));
  }
  return worst;
}

Floats Grid(double lo, double hi, double step) {
  Floats x;
  for (double v = lo; v <= hi; v += step) x.push_back(static_cast<float>(v));
  return x;
}

TEST(VectorMathTest, ExpIsAccurateOnItsRange) {
  const double err =
      MathError(Grid(-87, 88, 1e-4), ExpLoop, Exp, [](double x) { return std::exp(x); });
  EXPECT_LE(err, 3e-7);
}

TEST(VectorMathTest, ExpIsZeroFarBelowAndFiniteFarAbove) {
  const Floats x = {-88.5f, -100.0f, -1e30f, -INFINITY, 89.0f, 1e30f, INFINITY};
  Floats y(x.size());
  ExpLoop(x.data(), static_cast<int64_t>(x.size()), y.data());
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] < 0) {
      EXPECT_EQ(y[i], 0.0f) << x[i];
      EXPECT_EQ(Exp(x[i]), 0.0f) << x[i];
    } else {
      EXPECT_TRUE(std::isfinite(y[i]) && y[i] > 1e38f) << x[i];
    }
  }
  EXPECT_EQ(Exp(0.0f), 1.0f);
}

TEST(VectorMathTest, SigmoidIsAccurate) {
  const double err = MathError(Grid(-80, 80, 1e-4), SigmoidLoop, Sigmoid,
                               [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
  EXPECT_LE(err, 1e-6);
  EXPECT_EQ(Sigmoid(100.0f), 1.0f);
  EXPECT_EQ(Sigmoid(-1e30f), Sigmoid(-1e30f));  // not NaN
}

TEST(VectorMathTest, TanhIsAccurateIncludingTinyInputs) {
  Floats x = Grid(-20, 20, 1e-5);
  for (double v = 1e-30; v < 1; v *= 1.01) {
    x.push_back(static_cast<float>(v));
    x.push_back(static_cast<float>(-v));
  }
  x.erase(std::remove(x.begin(), x.end(), 0.0f), x.end());
  const double err = MathError(x, TanhLoop, Tanh, [](double v) { return std::tanh(v); });
  EXPECT_LE(err, 1e-6);
  EXPECT_EQ(Tanh(1e30f), 1.0f);
  EXPECT_EQ(Tanh(-1e30f), -1.0f);
}

// ---- Norms and element-wise ops.

Doubles NormReference(const Floats& x, int64_t rows, int64_t width, int64_t groups,
                      const Floats& gamma, const Floats& beta, double eps) {
  const int64_t size = width / groups;
  Doubles y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t o = r * width + g * size;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < size; ++i) mean += x[o + i];
      mean /= size;
      for (int64_t i = 0; i < size; ++i) var += (x[o + i] - mean) * (x[o + i] - mean);
      var /= size;
      for (int64_t i = 0; i < size; ++i) {
        const int64_t c = g * size + i;
        y[o + i] = (x[o + i] - mean) / std::sqrt(var + eps) * gamma[c] + beta[c];
      }
    }
  }
  return y;
}

TEST(OpsTest, LayerNormRowsMatchesDouble) {
  for (int64_t width : kSizes) {
    for (int64_t rows = 1; rows <= 5; ++rows) {
      const Floats x = Random(rows * width, -3, 5, 1);
      const Floats gamma = Random(width, 0.5, 2, 2), beta = Random(width, -1, 1, 3);
      Floats y(x.size());
      LayerNormRows(x.data(), rows, width, gamma.data(), beta.data(), 1e-5f, y.data());
      const Doubles want = NormReference(x, rows, width, 1, gamma, beta, 1e-5);
      EXPECT_LE(MaxRelativeError(y, want), 1e-6) << width << " x " << rows;
    }
  }
}

TEST(OpsTest, GroupNormRowsMatchesDoubleInPlace) {
  for (int64_t size : kSizes) {
    for (int64_t groups : {1, 3}) {
      const int64_t width = size * groups, rows = 3;
      const Floats x = Random(rows * width, -2, 2, 4);
      const Floats gamma = Random(width, 0.5, 2, 5), beta = Random(width, -1, 1, 6);
      Floats y = x;
      GroupNormRows(y.data(), rows, width, groups, gamma.data(), beta.data(), 64e-5f, y.data());
      const Doubles want = NormReference(x, rows, width, groups, gamma, beta, 64e-5);
      EXPECT_LE(MaxRelativeError(y, want), 1e-6) << size << " x " << groups;
    }
  }
}

TEST(OpsTest, ProductsMatchDouble) {
  for (int64_t width : kSizes) {
    const int64_t rows = 3, n = rows * width;
    const Floats a = Random(n, -2, 2, 7), b = Random(n, -2, 2, 8), x0 = Random(n, -2, 2, 9);
    Floats x = x0, y = x0;
    AddProductRows(rows, width, a.data(), b.data(), x.data());
    MultiplyRows(rows, width, a.data(), y.data());
    Doubles want_x(n), want_y(n);
    for (int64_t i = 0; i < n; ++i) {
      want_x[i] = x0[i] + static_cast<double>(a[i]) * b[i];
      want_y[i] = static_cast<double>(x0[i]) * a[i];
    }
    EXPECT_LE(MaxRelativeError(x, want_x), 1e-6) << width;
    EXPECT_LE(MaxRelativeError(y, want_y), 1e-6) << width;
  }
}

TEST(TokenShiftTest, FusedMixesMatchDouble) {
  for (int64_t width : kSizes) {
    for (int64_t rows = 1; rows <= 5; ++rows) {
      const int64_t n = rows * width;
      const Floats a = Random(n, -2, 2, 10), p = Random(n, -2, 2, 11);
      const Floats mu1 = Random(width, 0, 1, 12), mu2 = Random(width, 0, 1, 13);
      const Floats extra = Random(n, -0.5, 0.5, 14);
      Floats lerp1(n), lerp2(n), maa1(n), maa2(n);
      LerpMix(rows, width, a.data(), p.data(),
              {{mu1.data(), lerp1.data()}, {mu2.data(), lerp2.data()}});
      MaaMix(rows, width, a.data(), p.data(),
             {{mu1.data(), maa1.data()}, {mu2.data(), maa2.data(), extra.data()}});
      Doubles want_lerp1(n), want_lerp2(n), want_maa1(n), want_maa2(n);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = i % width;
        const double ai = a[i], pi = p[i];
        want_lerp1[i] = ai * mu1[c] + pi * (1.0 - mu1[c]);
        want_lerp2[i] = ai * mu2[c] + pi * (1.0 - mu2[c]);
        want_maa1[i] = ai + (pi - ai) * mu1[c];
        want_maa2[i] = ai + (pi - ai) * (static_cast<double>(mu2[c]) + extra[i]);
      }
      EXPECT_LE(MaxRelativeError(lerp1, want_lerp1), 1e-6);
      EXPECT_LE(MaxRelativeError(lerp2, want_lerp2), 1e-6);
      EXPECT_LE(MaxRelativeError(maa1, want_maa1), 1e-6);
      EXPECT_LE(MaxRelativeError(maa2, want_maa2), 1e-6);
    }
  }
}

// ---- Recurrences. Each case packs its rows as one sequence per row (even row counts) or as one
// sequence (odd).

struct Packing {
  PackedBatch batch;
  std::vector<Floats> states;
};

Packing Pack(int64_t rows, bool one_per_row, int64_t state_floats, uint32_t seed) {
  Packing p;
  const int64_t sequences = one_per_row ? rows : 1;
  for (int64_t s = 0; s < sequences; ++s) {
    p.states.push_back(Random(state_floats, -0.5, 0.5, seed + static_cast<uint32_t>(s)));
  }
  for (int64_t s = 0; s < sequences; ++s) {
    const int64_t count = one_per_row ? 1 : rows;
    p.batch.sequences.push_back({s * count, count, p.states[s].data()});
  }
  p.batch.rows = rows;
  return p;
}

Doubles ToDoubles(const Floats& x) { return Doubles(x.begin(), x.end()); }

TEST(WkvTest, V5MatchesDouble) {
  for (int64_t n : kSizes) {
    for (bool w_per_row : {false, true}) {
      for (int64_t rows = 1; rows <= 5; ++rows) {
        const bool one_per_row = rows % 2 == 0;
        const int64_t heads = 2, width = heads * n;
        Packing p = Pack(rows, one_per_row, heads * n * n, 20);
        std::vector<Doubles> want_states;
        for (const Floats& s : p.states) want_states.push_back(ToDoubles(s));
        const Floats r = Random(rows * width, -1, 1, 21), k = Random(rows * width, -1, 1, 22);
        const Floats v = Random(rows * width, -1, 1, 23), u = Random(width, -1, 1, 25);
        const Floats w = Random(w_per_row ? rows * width : width, 0.5, 1, 24);
        Floats y(rows * width);
        WkvV5(p.batch, {heads, n, 0}, r.data(), k.data(), v.data(), w.data(), w_per_row, u.data(),
              y.data());
        Doubles want(rows * width, 0.0);
        for (size_t q = 0; q < p.batch.sequences.size(); ++q) {
          const SequenceRows& seq = p.batch.sequences[q];
          for (int64_t t = seq.begin; t < seq.begin + seq.count; ++t) {
            for (int64_t h = 0; h < heads; ++h) {
              double* s = want_states[q].data() + h * n * n;
              const int64_t o = t * width + h * n;
              const int64_t wo = (w_per_row ? t * width : 0) + h * n;
              for (int64_t i = 0; i < n; ++i) {
                for (int64_t j = 0; j < n; ++j) {
                  const double kv = static_cast<double>(k[o + i]) * v[o + j];
                  want[o + j] += r[o + i] * (s[i * n + j] + u[h * n + i] * kv);
                  s[i * n + j] = w[wo + i] * s[i * n + j] + kv;
                }
              }
            }
          }
        }
        EXPECT_LE(MaxRelativeError(y, want), 2e-6) << n << " " << w_per_row << " " << rows;
        for (size_t q = 0; q < p.states.size(); ++q) {
          EXPECT_LE(MaxRelativeError(p.states[q], want_states[q]), 2e-6) << n;
        }
      }
    }
  }
}

TEST(WkvTest, V7MatchesDouble) {
  for (int64_t n : kSizes) {
    for (int64_t rows = 1; rows <= 5; ++rows) {
      const bool one_per_row = rows % 2 == 0;
      const int64_t heads = 2, width = heads * n;
      Packing p = Pack(rows, one_per_row, heads * n * n, 30);
      std::vector<Doubles> want_states;
      for (const Floats& s : p.states) want_states.push_back(ToDoubles(s));
      const Floats r = Random(rows * width, -1, 1, 31), w = Random(rows * width, 0.5, 1, 32);
      const Floats k = Random(rows * width, -1, 1, 33), v = Random(rows * width, -1, 1, 34);
      // a = -kappa, b = kappa * alpha with |kappa| ~ 1 per head, as in the model.
      const Floats kappa = Random(rows * width, -1, 1, 35), alpha = Random(rows * width, 0, 1, 36);
      Floats a(rows * width), b(rows * width);
      const float scale = 1.0f / std::sqrt(static_cast<float>(n) / 3);
      for (int64_t i = 0; i < rows * width; ++i) {
        a[i] = -kappa[i] * scale;
        b[i] = kappa[i] * scale * alpha[i];
      }
      Floats y(rows * width);
      WkvV7(p.batch, {heads, n, 0}, r.data(), w.data(), k.data(), v.data(), a.data(), b.data(),
            y.data());
      Doubles want(rows * width, 0.0);
      for (size_t q = 0; q < p.batch.sequences.size(); ++q) {
        const SequenceRows& seq = p.batch.sequences[q];
        for (int64_t t = seq.begin; t < seq.begin + seq.count; ++t) {
          for (int64_t h = 0; h < heads; ++h) {
            double* s = want_states[q].data() + h * n * n;
            const int64_t o = t * width + h * n;
            for (int64_t i = 0; i < n; ++i) {
              double sa = 0;
              for (int64_t j = 0; j < n; ++j) sa += s[i * n + j] * a[o + j];
              for (int64_t j = 0; j < n; ++j) {
                s[i * n + j] = s[i * n + j] * w[o + j] + sa * b[o + j] +
                               static_cast<double>(v[o + i]) * k[o + j];
                want[o + i] += s[i * n + j] * r[o + j];
              }
            }
          }
        }
      }
      EXPECT_LE(MaxRelativeError(y, want), 1e-5) << n << " " << rows;
      for (size_t q = 0; q < p.states.size(); ++q) {
        EXPECT_LE(MaxRelativeError(p.states[q], want_states[q]), 1e-5) << n;
      }
    }
  }
}

TEST(WkvTest, V4MatchesDouble) {
  for (int64_t width : {1, 7, 8, 16, 64, 65, 130}) {
    for (int64_t rows = 1; rows <= 5; ++rows) {
      const bool one_per_row = rows % 2 == 0;
      Packing p = Pack(rows, one_per_row, 3 * width, 40);
      for (Floats& s : p.states) {  // aa, bb > 0 and pp as after a few tokens; one fresh state
        for (int64_t c = 0; c < width; ++c) {
          s[width + c] = std::fabs(s[width + c]) + 0.1f;
          s[2 * width + c] = &s == &p.states[0] ? -1e30f : 3 * s[2 * width + c];
        }
      }
      std::vector<Doubles> want_states;
      for (const Floats& s : p.states) want_states.push_back(ToDoubles(s));
      const Floats r = Random(rows * width, 0, 1, 41), k = Random(rows * width, -3, 3, 42);
      const Floats v = Random(rows * width, -1, 1, 43), first = Random(width, -1, 1, 44);
      const Floats decay = Random(width, -2, -0.01f, 45);
      Floats y(rows * width);
      WkvV4(p.batch, width, 0, first.data(), decay.data(), r.data(), k.data(), v.data(), y.data());
      Doubles want(rows * width);
      for (size_t q = 0; q < p.batch.sequences.size(); ++q) {
        const SequenceRows& seq = p.batch.sequences[q];
        double* aa = want_states[q].data();
        double *bb = aa + width, *pp = bb + width;
        for (int64_t t = seq.begin; t < seq.begin + seq.count; ++t) {
          for (int64_t c = 0; c < width; ++c) {
            const double kk = k[t * width + c], vv = v[t * width + c];
            double ww = first[c] + kk, qq = std::max(pp[c], ww);
            double e1 = std::exp(pp[c] - qq), e2 = std::exp(ww - qq);
            want[t * width + c] = r[t * width + c] * (e1 * aa[c] + e2 * vv) / (e1 * bb[c] + e2);
            ww = pp[c] + decay[c];
            qq = std::max(ww, kk);
            e1 = std::exp(ww - qq);
            e2 = std::exp(kk - qq);
            aa[c] = e1 * aa[c] + e2 * vv;
            bb[c] = e1 * bb[c] + e2;
            pp[c] = qq;
          }
        }
      }
      EXPECT_LE(MaxRelativeError(y, want), 2e-6) << width << " " << rows;
      for (size_t q = 0; q < p.states.size(); ++q) {
        EXPECT_LE(MaxRelativeError(p.states[q], want_states[q]), 2e-6) << width;
      }
    }
  }
}

// ---- The v6 and v7 element-wise passes.

double Sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(TimeMixKernelsTest, V6DecayMatchesDouble) {
  for (int64_t width : kSizes) {
    const int64_t rows = 3;
    const Floats decay = Random(width, -6, 1, 50), z = Random(rows * width, -2, 2, 51);
    Floats w = z;
    DecayV6Rows(rows, width, decay.data(), w.data());
    Doubles want(rows * width);
    for (int64_t i = 0; i < rows * width; ++i) {
      want[i] = std::exp(-std::exp(static_cast<double>(decay[i % width]) + z[i]));
    }
    EXPECT_LE(MaxRelativeError(w, want, 1e-30), 2e-6) << width;
  }
}

struct V7Case {
  int64_t rows, width, head_size;
  Floats w0, a0, v0, k_k, k_a, r_k;
  Floats w, alpha, k, v, nu, v_first, r, g, y;

  V7Case(int64_t rows_in, int64_t heads, int64_t n)
      : rows(rows_in), width(heads * n), head_size(n) {
    const int64_t c = width, m = rows * width;
    w0 = Random(c, -3, 1, 60), a0 = Random(c, -1, 1, 61), v0 = Random(c, -1, 1, 62);
    k_k = Random(c, 0, 1.5, 63), k_a = Random(c, 0, 1.5, 64), r_k = Random(c, -1, 1, 65);
    w = Random(m, -2, 2, 66), alpha = Random(m, -2, 2, 67), k = Random(m, -2, 2, 68);
    v = Random(m, -2, 2, 69), nu = Random(m, -2, 2, 70), v_first = Random(m, -2, 2, 71);
    r = Random(m, -1, 1, 72), g = Random(m, 0, 1, 73), y = Random(m, -2, 2, 74);
  }
  V7Params Params() const {
    return {width, head_size, w0.data(), a0.data(), v0.data(), k_k.data(), k_a.data(), r_k.data()};
  }
};

TEST(TimeMixKernelsTest, V7PrepareMatchesDouble) {
  for (int64_t n : kSizes) {
    for (bool residual : {false, true}) {
      V7Case c(3, 2, n);
      const int64_t m = c.rows * c.width;
      const V7Case in = c;
      Floats k_hat_neg(m), k_hat_alpha(m), k_tilde(m);
      PrepareV7Rows(
          c.rows, c.Params(),
          {c.w.data(), c.alpha.data(), c.k.data(), c.v.data(), residual ? c.nu.data() : nullptr,
           c.v_first.data(), k_hat_neg.data(), k_hat_alpha.data(), k_tilde.data()});
      Doubles w(m), alpha(m), v(m), neg(m), halpha(m), tilde(m);
      for (int64_t h0 = 0; h0 < m; h0 += n) {
        double sq = 0;
        for (int64_t i = h0; i < h0 + n; ++i) {
          sq += std::pow(static_cast<double>(in.k[i]) * in.k_k[i % c.width], 2);
        }
        const double inv = 1.0 / std::max(std::sqrt(sq), 1e-12);
        for (int64_t i = h0; i < h0 + n; ++i) {
          const int64_t ch = i % c.width;
          w[i] = std::exp(-0.606531 * Sig(static_cast<double>(in.w0[ch]) + in.w[i]));
          alpha[i] = Sig(static_cast<double>(in.a0[ch]) + in.alpha[i]);
          v[i] = residual ? in.v[i] + (static_cast<double>(in.v_first[i]) - in.v[i]) *
                                          Sig(static_cast<double>(in.v0[ch]) + in.nu[i])
                          : in.v[i];
          const double kappa = static_cast<double>(in.k[i]) * in.k_k[ch] * inv;
          neg[i] = -kappa;
          halpha[i] = kappa * alpha[i];
          tilde[i] = in.k[i] * (1.0 + (alpha[i] - 1.0) * in.k_a[ch]);
        }
      }
      EXPECT_LE(MaxRelativeError(c.w, w), 1e-6) << n;
      EXPECT_LE(MaxRelativeError(c.alpha, alpha), 1e-6) << n;
      EXPECT_LE(MaxRelativeError(c.v, v), 1e-6) << n;
      EXPECT_LE(MaxRelativeError(k_hat_neg, neg), 1e-6) << n;
      EXPECT_LE(MaxRelativeError(k_hat_alpha, halpha), 1e-6) << n;
      EXPECT_LE(MaxRelativeError(k_tilde, tilde), 1e-6) << n;
    }
  }
}

TEST(TimeMixKernelsTest, V7BonusAndGateMatchesDouble) {
  for (int64_t n : kSizes) {
    V7Case c(3, 2, n);
    const Floats y0 = c.y, k_tilde = Random(c.rows * c.width, -2, 2, 80);
    BonusAndGateV7Rows(c.rows, c.Params(), c.r.data(), k_tilde.data(), c.v.data(), c.g.data(),
                       c.y.data());
    Doubles want(y0.size());
    for (size_t h0 = 0; h0 < y0.size(); h0 += n) {
      double bonus = 0;
      for (size_t i = h0; i < h0 + n; ++i) {
        bonus += static_cast<double>(c.r[i]) * k_tilde[i] * c.r_k[i % c.width];
      }
      for (size_t i = h0; i < h0 + n; ++i) want[i] = (y0[i] + bonus * c.v[i]) * c.g[i];
    }
    EXPECT_LE(MaxRelativeError(c.y, want), 1e-5) << n;
  }
}

// ---- A row's result must not depend on the rows around it or on its address (the engine's
// batch and chunk invariance rests on it): row 2 of a 5-row batch against the same row alone,
// one float off the original alignment.

// Runs kernel(rows, inputs..., out) on 5 rows and on row 2 alone; true if row 2 is bit-identical.
template <typename Kernel>
bool RowIsBatchInvariant(int64_t width, int inputs, Kernel kernel) {
  const int64_t rows = 5, n = rows * width;
  std::vector<Floats> in;
  for (int i = 0; i < inputs; ++i) in.push_back(Random(n, 0.1f, 1.5f, 90 + i));
  Floats out = Random(n, -1, 1, 99);
  std::vector<Floats> in1;
  for (const Floats& x : in) in1.emplace_back(x.begin() + 2 * width - 1, x.begin() + 3 * width);
  Floats out1(out.begin() + 2 * width - 1, out.begin() + 3 * width);
  std::vector<float*> ptr, ptr1;
  for (int i = 0; i < inputs; ++i) {
    ptr.push_back(in[i].data());
    ptr1.push_back(in1[i].data() + 1);
  }
  kernel(rows, ptr.data(), out.data());
  kernel(1, ptr1.data(), out1.data() + 1);
  return std::equal(out1.begin() + 1, out1.end(), out.begin() + 2 * width);
}

using RowKernel = std::function<void(int64_t rows, float** inputs, float* out)>;

TEST(BatchInvarianceTest, RowKernelsIgnoreTheirNeighbours) {
  for (int64_t width : {7, 64, 65, 768}) {
    const Floats gamma = Random(width, 0.5, 2, 2), beta = Random(width, -1, 1, 3);
    const Floats mu = Random(width, 0, 1, 4);
    const float *g = gamma.data(), *b = beta.data(), *m = mu.data();
    const std::vector<std::tuple<const char*, int, RowKernel>> kernels = {
        {"LayerNormRows", 1,
         [&](int64_t rows, float** x, float* y) {
           LayerNormRows(x[0], rows, width, g, b, 1e-5f, y);
         }},
        {"GroupNormRows", 1,
         [&](int64_t rows, float** x, float* y) {
           GroupNormRows(x[0], rows, width, 1, g, b, 1e-5f, y);
         }},
        {"LerpMix", 2,
         [&](int64_t rows, float** x, float* y) {
           LerpMix(rows, width, x[0], x[1], {{m, y}});
         }},
        {"MaaMix", 3,
         [&](int64_t rows, float** x, float* y) {
           MaaMix(rows, width, x[0], x[1], {{m, y, x[2]}});
         }},
        {"AddProductRows", 2,
         [&](int64_t rows, float** x, float* y) { AddProductRows(rows, width, x[0], x[1], y); }},
        {"MultiplyRows", 1,
         [&](int64_t rows, float** x, float* y) { MultiplyRows(rows, width, x[0], y); }},
        {"DecayV6Rows", 0,
         [&](int64_t rows, float**, float* y) { DecayV6Rows(rows, width, g, y); }},
    };
    for (const auto& [name, inputs, kernel] : kernels) {
      EXPECT_TRUE(RowIsBatchInvariant(width, inputs, kernel)) << name << " " << width;
    }
  }
}

TEST(BatchInvarianceTest, V7RowKernelsIgnoreTheirNeighbours) {
  for (int64_t n : {8, 64}) {
    const V7Case c(1, 3, n);
    const V7Params params = c.Params();
    const RowKernel prepare = [&](int64_t rows, float** x, float* y) {
      Floats neg(rows * c.width), halpha(rows * c.width);
      PrepareV7Rows(rows, params,
                    {x[0], x[1], x[2], x[3], x[4], x[5], neg.data(), halpha.data(), y});
    };
    const RowKernel bonus = [&](int64_t rows, float** x, float* y) {
      BonusAndGateV7Rows(rows, params, x[0], x[1], x[2], x[3], y);
    };
    EXPECT_TRUE(RowIsBatchInvariant(c.width, 6, prepare)) << "PrepareV7Rows " << n;
    EXPECT_TRUE(RowIsBatchInvariant(c.width, 4, bonus)) << "BonusAndGateV7Rows " << n;
  }
}

// One sequence's outputs and state, alone in one step, against the same tokens placed in the
// middle of a batch (other sequences around them) and split over two steps.
TEST(BatchInvarianceTest, RecurrencesIgnoreBatchAndChunking) {
  struct Step {
    int64_t begin, first_token, count;  // the sequence's rows and which of its tokens they hold
  };
  for (int64_t n : {8, 64, 65}) {
    const int64_t heads = 2, width = heads * n, tokens = 4, rows = tokens + 2;
    std::vector<Floats> token_data, filler;
    for (int i = 0; i < 6; ++i) {
      token_data.push_back(Random(tokens * width, 0.1f, 0.9f, 100 + i));
      filler.push_back(Random(rows * width, 0.1f, 0.9f, 120 + i));
    }
    const Floats u = Random(width, -1, 1, 110), state0 = Random(heads * n * n, -1, 1, 111);
    auto run = [&](int version, const std::vector<Step>& steps, Floats* y, Floats* state) {
      *state = state0;
      Floats other = state0;
      for (const Step& step : steps) {
        PackedBatch batch;
        batch.rows = rows;
        const int64_t end = step.begin + step.count;
        if (step.begin > 0) batch.sequences.push_back({0, step.begin, other.data()});
        batch.sequences.push_back({step.begin, step.count, state->data()});
        if (end < rows) batch.sequences.push_back({end, rows - end, other.data()});
        std::vector<Floats> in = filler;
        for (int i = 0; i < 6; ++i) {
          std::copy_n(token_data[i].begin() + step.first_token * width, step.count * width,
                      in[i].begin() + step.begin * width);
        }
        Floats out(rows * width);
        if (version == 5) {
          WkvV5(batch, {heads, n, 0}, in[0].data(), in[1].data(), in[2].data(), in[3].data(),
                /*w_per_row=*/true, u.data(), out.data());
        } else {
          WkvV7(batch, {heads, n, 0}, in[0].data(), in[1].data(), in[2].data(), in[3].data(),
                in[4].data(), in[5].data(), out.data());
        }
        y->insert(y->end(), out.begin() + step.begin * width, out.begin() + end * width);
      }
    };
    for (int version : {5, 7}) {
      Floats y_alone, y_batch, y_chunks, s_alone, s_batch, s_chunks;
      run(version, {{0, 0, tokens}}, &y_alone, &s_alone);
      run(version, {{1, 0, tokens}}, &y_batch, &s_batch);
      run(version, {{2, 0, 1}, {0, 1, tokens - 1}}, &y_chunks, &s_chunks);
      EXPECT_EQ(y_alone, y_batch) << version << " " << n;
      EXPECT_EQ(s_alone, s_batch) << version << " " << n;
      EXPECT_EQ(y_alone, y_chunks) << version << " " << n;
      EXPECT_EQ(s_alone, s_chunks) << version << " " << n;
    }
  }
}

}  // namespace
}  // namespace rwkv::engine
