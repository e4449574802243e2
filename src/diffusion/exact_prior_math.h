#pragma once
// The closed-form helpers of the exact prior (internal, not installed): component selection,
// logits, multi-view tuples and the Gaussian-mixture arithmetic behind ExactPrior's public
// member functions (see docs/exact-prior.md). Defined in exact_prior.cpp,
// exact_prior_multiview.cpp and exact_prior_reference.cpp; a friend of ExactPrior.

#include <string>
#include <vector>

#include "sds/diffusion/exact_prior.h"

namespace sds {

struct ExactPriorMath {
  struct Selection {
    at::Tensor index;   ///< `[K_b]` long, component indices
    at::Tensor log_pi;  ///< `[K_b]` float64, normalised log weights
  };
  static Selection select(const ExactPrior& prior, const ExactPriorComponents& comps,
                          const Conditioning& conditioning, int64_t b);
  /// Reference conditioning's selection (exact_prior_reference.cpp).
  static Selection select_reference(const ExactPrior& prior, const ExactPriorComponents& comps,
                                    const Conditioning& conditioning, int64_t b);
  /// -log M_c for each component of `index` (`[K_b]` long, host) whose concept c has M_c
  /// members: the null prompt weighs concepts equally, not members.
  static at::Tensor member_log_weights(const ExactPrior& prior, const ExactPriorComponents& comps,
                                       const at::Tensor& index);
  /// log pi of the camera kernel for cos(angle) `[K]`; `what` names the camera in errors.
  static at::Tensor camera_log_weights(const ExactPrior& prior, const at::Tensor& cos_angle,
                                       const std::string& what);
  /// Logits `[K_b]` (log pi_k plus the Gaussian log-likelihood up to a constant) of element b;
  /// `sel` on the components' device.
  static at::Tensor logits(const ExactPrior& prior, const ExactPriorComponents& comps,
                           const Selection& sel, const at::Tensor& x_flat, double alpha_bar);
  /// The low-rank part of components `index` at x (flattened, float64) and alpha_bar = a: with
  /// C = v I + a B^T B, z = B (x - sqrt(a) mu) and G = v I + a B B^T, `logit` `[K_b]` is what the
  /// covariance adds to the isotropic logit, a z^T G^-1 z / (2 v) - (log det G - r log v) / 2,
  /// and `solved` `[K_b, r]` is G^-1 z.
  struct WidthTerms {
    at::Tensor logit, solved;
  };
  static WidthTerms width_terms(const ExactPrior& prior, const ExactPriorComponents& comps,
                                const at::Tensor& index, const at::Tensor& x, double a);
  /// What the low-rank part adds to E[x0 | x_t] `[D]` for responsibilities `weights` `[K_b]` of
  /// components `index`: sqrt(a) (1 - a) / v sum_k r_k B_k^T G_k^-1 z_k.
  static at::Tensor width_mean(const ExactPrior& prior, const ExactPriorComponents& comps,
                               const at::Tensor& index, const at::Tensor& weights,
                               const at::Tensor& solved, double a);
  /// One batch element's flattened image (float64), alpha_bar, selected components and logits,
  /// on the components' device.
  struct Element {
    at::Tensor x;
    double alpha_bar = 0.0;
    at::Tensor index;
    at::Tensor logits;
    at::Tensor solved;  ///< WidthTerms::solved; undefined without width
  };
  static Element element(const ExactPrior& prior, const ExactPriorComponents& comps,
                         const at::Tensor& x_t, const at::Tensor& t,
                         const Conditioning& conditioning, int64_t b);
  /// One multi-view group's views `x` `[N, D]`, alpha_bar, selected tuples `[T_g, N]` and joint
  /// logits `[T_g]` (exact_prior_multiview.cpp).
  struct GroupElement {
    at::Tensor x;
    double alpha_bar = 0.0;
    at::Tensor tuples;
    at::Tensor logits;
    std::vector<at::Tensor> solved;  ///< per view, WidthTerms::solved; empty without width
  };
  static GroupElement group_element(const ExactPrior& prior, const ExactPriorComponents& comps,
                                    const at::Tensor& x_t, const at::Tensor& t,
                                    const Conditioning& conditioning, int64_t group);
  /// E[x0 | x_t] of every view of a group `[N, D]`, from the shared tuple responsibilities.
  static at::Tensor group_posterior_mean(const ExactPrior& prior, const ExactPriorComponents& comps,
                                         const GroupElement& e);
  /// The `[T, N]` tuples of `comps` (built after the grid components).
  static at::Tensor build_tuples(const ExactPrior& prior, const ExactPriorComponents& comps);
  static bool multiview(const ExactPrior& prior) {
    return prior.options_.conditioning == "multiview";
  }
  /// ||x - sqrt(a) mu_k||^2 `[K]` for a flattened image `x` `[D]` and components `mu` `[K, D]`
  /// with squared norms `mu_sq_norm` `[K]`, as one matrix product.
  static at::Tensor noisy_distances(const at::Tensor& x, const at::Tensor& mu,
                                    const at::Tensor& mu_sq_norm, double a);
  /// E[x0 | x_t] of one image from its mixture mean m = sum_k r_k mu_k: each component's
  /// posterior mean is mu_k + (s^2 sqrt(a) / v)(x - sqrt(a) mu_k).
  static at::Tensor shrunk_mean(const ExactPrior& prior, const at::Tensor& m, const at::Tensor& x,
                                double a);
  /// log p_t of `d` values from the logits of their mixture: logsumexp - d/2 log(2 pi v).
  static at::Tensor mixture_log_density(const ExactPrior& prior, const at::Tensor& logits, double a,
                                        int64_t d);
  /// Drops the personal components of `comps`, keeping the grid.
  static void keep_grid_only(ExactPriorComponents& comps);
  /// v = a s^2 + (1 - a), the variance of each component at noise level alpha_bar = a.
  static double noisy_variance(const ExactPrior& prior, double a) {
    return a * prior.options_.sigma * prior.options_.sigma + (1 - a);
  }
  static void check_inputs(const ExactPrior& prior, const at::Tensor& x_t, const at::Tensor& t,
                           const Conditioning& conditioning);
};

}  // namespace sds
