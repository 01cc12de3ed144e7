using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Objectives;

/// <summary>
/// WGAN-GP gradient penalty on the potential: λ·mean_b(‖∂φ(z)/∂z_b‖₂ − 1)² at z = α·y + (1−α)·ŷ, α per sample
/// (spec §4.1). The official trainer applies it as a separate optimizer step after the Wasserstein step.
/// </summary>
public sealed class GradientPenalty
{
    /// <summary>Weight λ (official 10).</summary>
    public double Lambda { get; init; } = 10.0;

    /// <summary>Computes the penalty. <paramref name="real"/> and <paramref name="fake"/> are detached; the result
    /// carries a graph into the potential's parameters (double backward).</summary>
    /// <param name="potential">φ, returning [B] or [B,1].</param>
    /// <param name="real">Clean targets y, [B,C,H,W].</param>
    /// <param name="fake">Restored images ŷ, same shape.</param>
    /// <param name="alpha">Interpolation weights, B values ([B] or [B,1,1,1]); when null, drawn from U[0,1) with
    /// <paramref name="generator"/>.</param>
    /// <param name="generator">Random generator for α (null: the global one).</param>
    public Tensor Compute(nn.Module<Tensor, Tensor> potential, Tensor real, Tensor fake, Tensor? alpha = null, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(potential);
        ArgumentNullException.ThrowIfNull(real);
        ArgumentNullException.ThrowIfNull(fake);
        if (!real.shape.SequenceEqual(fake.shape) || real.dim() != 4)
            throw new TensorArgumentException(nameof(fake), $"expected two [B,C,H,W] tensors of one shape, got [{string.Join(",", real.shape)}] and [{string.Join(",", fake.shape)}].");
        var b = real.shape[0];
        using var scope = NewDisposeScope();
        Tensor a;
        if (alpha is null)
            a = rand(new long[] { b, 1, 1, 1 }, dtype: real.dtype, device: real.device, generator: generator);
        else
        {
            if (alpha.numel() != b)
                throw new TensorArgumentException(nameof(alpha), $"{alpha.numel()} values for a batch of {b}.");
            a = alpha.to(real.dtype).to(real.device).reshape(b, 1, 1, 1);
        }
        Tensor z;
        using (no_grad())
            z = (a * real.detach()).Plus(a.SubtractedFrom(Scalars.One) * fake.detach());
        z.requires_grad_(true);
        var outputs = potential.call(z);
        var grads = autograd.grad(new[] { outputs }, new[] { z }, new[] { ones_like(outputs) }, retain_graph: true, create_graph: true)[0];
        var norm = grads.reshape(b, -1).Square().sum(1).sqrt();
        var gp = norm.Minus(Scalars.One).Square().mean().Times(Lambda);
        return gp.MoveToOuterDisposeScope();
    }
}
