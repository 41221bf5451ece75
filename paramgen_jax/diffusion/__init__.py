"""Gaussian diffusion: schedules, forward process, losses, DDPM and DDIM samplers. Pure JAX."""

from paramgen_jax.diffusion.gaussian import (PREDICTIONS, diffusion_loss, masked_mean,
                                             prediction_target, q_sample, to_x0_and_eps)
from paramgen_jax.diffusion.samplers import (ddim_sample, ddim_step, ddim_timesteps, ddpm_sample,
                                             ddpm_step, sample)
from paramgen_jax.diffusion.schedules import (Schedule, cosine_alphas_cumprod, cosine_betas,
                                              extract, get_schedule, linear_betas, make_schedule,
                                              per_example)
