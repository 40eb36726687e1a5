// Mean, spread and Welch's t-test for the comparison table (statistics.h).
#include "cifar_exp/records/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace cifar_exp {
namespace {

constexpr double kEpsilon = 1e-15;
constexpr double kTiny = 1e-300;  // keeps the continued fraction's terms away from 0 / 0
constexpr int kMaxTerms = 1000;

// Keeps a continued-fraction term away from zero (the modified Lentz method divides by it).
double away_from_zero(double v) { return std::fabs(v) < kTiny ? kTiny : v; }

// The continued fraction of I_x(a, b) (without its prefactor), evaluated from the front by the
// modified Lentz method. It converges quickly for x < (a + 1) / (a + b + 2); the caller uses
// I_x(a, b) = 1 - I_{1-x}(b, a) otherwise.
double incomplete_beta_fraction(double a, double b, double x) {
  double c = 1.0;
  double d = 1.0 / away_from_zero(1.0 - (a + b) * x / (a + 1.0));
  double f = d;
  for (int m = 1; m <= kMaxTerms; ++m) {
    // Two steps per m: the even coefficient d_2m, then the odd one d_2m+1.
    const double even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
    d = 1.0 / away_from_zero(1.0 + even * d);
    c = away_from_zero(1.0 + even / c);
    f *= d * c;
    const double odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
    d = 1.0 / away_from_zero(1.0 + odd * d);
    c = away_from_zero(1.0 + odd / c);
    const double step = d * c;
    f *= step;
    if (std::fabs(step - 1.0) < kEpsilon) return f;
  }
  return f;  // not converged to 1e-15; still accurate far beyond what `compare` prints
}

// P(T > |t|) for Student's t with df degrees of freedom.
double student_t_upper_tail(double t, double df) {
  if (std::isinf(t)) return 0.0;
  return 0.5 * regularized_incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
}

}  // namespace

Stat mean_std(const std::vector<double>& values) {
  Stat s;
  s.n = int64_t(values.size());
  if (values.empty()) return s;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / double(values.size());
  if (values.size() > 1) {
    double squares = 0;
    for (double v : values) squares += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(squares / double(values.size() - 1));
  }
  return s;
}

double regularized_incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0 && x <= 1)) {
    throw std::invalid_argument("regularized_incomplete_beta: needs a, b > 0 and 0 <= x <= 1");
  }
  if (x == 0 || x == 1) return x;
  // x^a (1-x)^b / B(a, b), in logarithms so that large a and b do not overflow.
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) {
    return std::exp(log_front) * incomplete_beta_fraction(a, b, x) / a;
  }
  return 1.0 - std::exp(log_front) * incomplete_beta_fraction(b, a, 1.0 - x) / b;
}

double student_t_cdf(double t, double df) {
  if (!(df > 0)) throw std::invalid_argument("student_t_cdf: needs df > 0");
  if (std::isnan(t)) return t;
  const double tail = student_t_upper_tail(t, df);
  return t > 0 ? 1.0 - tail : tail;
}

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1)) throw std::invalid_argument("student_t_quantile: needs 0 < p < 1");
  if (!(df > 0)) throw std::invalid_argument("student_t_quantile: needs df > 0");
  if (p == 0.5) return 0.0;
  if (p < 0.5) return -student_t_quantile(1.0 - p, df);
  // Bisection: the cdf is monotonic, so this cannot diverge (Newton can, for small df).
  double low = 0, high = 1;
  while (student_t_cdf(high, df) < p) {
    low = high;
    high *= 2;
  }
  for (int i = 0; i < 200 && high - low > 1e-14 * high; ++i) {
    const double mid = 0.5 * (low + high);
    (student_t_cdf(mid, df) < p ? low : high) = mid;
  }
  return 0.5 * (low + high);
}

std::optional<WelchTest> welch_test(const Stat& a, const Stat& b, double confidence) {
  if (!(confidence > 0 && confidence < 1)) {
    throw std::invalid_argument("welch_test: confidence must be in (0, 1), got " +
                                std::to_string(confidence));
  }
  if (a.n < 2 || b.n < 2) return std::nullopt;
  const double va = a.std * a.std / double(a.n), vb = b.std * b.std / double(b.n);
  WelchTest w;
  w.difference = a.mean - b.mean;
  w.standard_error = std::sqrt(va + vb);
  if (w.standard_error == 0) {
    // Both sides constant: the difference is known exactly.
    w.df = double(a.n + b.n - 2);
    w.t = w.difference == 0 ? 0
                            : std::copysign(std::numeric_limits<double>::infinity(), w.difference);
    w.p_value = w.difference == 0 ? 1 : 0;
    w.ci_low = w.ci_high = w.difference;
    return w;
  }
  w.df = (va + vb) * (va + vb) / (va * va / double(a.n - 1) + vb * vb / double(b.n - 1));
  w.t = w.difference / w.standard_error;
  w.p_value = std::min(1.0, 2.0 * student_t_upper_tail(w.t, w.df));
  const double half_width = student_t_quantile(0.5 + 0.5 * confidence, w.df) * w.standard_error;
  w.ci_low = w.difference - half_width;
  w.ci_high = w.difference + half_width;
  return w;
}

}  // namespace cifar_exp
