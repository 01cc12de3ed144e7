using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Objectives;

/// <summary>The terms of the FROT transport cost for one batch. Owns its tensors (scalars with a graph).</summary>
public sealed class FrotTerms : IDisposable
{
    internal FrotTerms(Tensor rms, Tensor fourier, Tensor total)
    {
        Rms = rms;
        Fourier = fourier;
        Total = total;
    }

    /// <summary>Batch-global RMS of the residual x − T(x) (the official <c>mse_loss</c>).</summary>
    public Tensor Rms { get; }

    /// <summary>Sum over the batch of the per-sample Fourier-residual penalty (unweighted).</summary>
    public Tensor Fourier { get; }

    /// <summary><see cref="Rms"/> + λ·<see cref="Fourier"/>.</summary>
    public Tensor Total { get; }

    /// <summary>Disposes the three scalars.</summary>
    public void Dispose()
    {
        Rms.Dispose();
        Fourier.Dispose();
        Total.Dispose();
    }
}

/// <summary>
/// The FROT transport cost c(x, T(x)) exactly as the official trainer computes it (spec §4.2): the RMS of the
/// residual over the whole batch, plus, per sample, a norm of the modulus of the unnormalised 2-D FFT of the
/// residual — the RMS of the modulus (L2-type) for noise tasks, its mean (L1-type) otherwise — summed over the batch.
/// </summary>
/// <remarks>
/// The per-sample term is summed, not averaged, so its scale grows with the batch size and (for the L2 case, by
/// Parseval) with sqrt(H·W); that is the official behaviour and what the official loss weights were tuned for.
/// </remarks>
public sealed class FrotCost
{
    /// <summary>The official mapping: denoise labels 0, 1, 2 use the L2-type penalty, every other task L1.</summary>
    public static readonly Func<long, bool> OfficialUsesL2 = id => id < 3;

    /// <summary>Weight λ of the Fourier term (official: 1).</summary>
    public double Lambda { get; init; } = 1.0;

    /// <summary>Decides, per task id, whether the L2-type (true) or L1-type (false) Fourier penalty applies.</summary>
    public Func<long, bool> UsesL2 { get; init; } = OfficialUsesL2;

    /// <summary>Computes the cost terms for degraded <paramref name="degraded"/> and restored
    /// <paramref name="restored"/> (both [B,C,H,W]) with one task id per sample.</summary>
    /// <exception cref="TensorArgumentException">Shapes differ, are not 4-D, or the id count is not B.</exception>
    public FrotTerms Compute(Tensor degraded, Tensor restored, IReadOnlyList<long> taskIds)
    {
        ArgumentNullException.ThrowIfNull(degraded);
        ArgumentNullException.ThrowIfNull(restored);
        ArgumentNullException.ThrowIfNull(taskIds);
        if (degraded.dim() != 4)
            throw new TensorArgumentException(nameof(degraded), $"expected [B,C,H,W], got [{string.Join(",", degraded.shape)}].");
        if (!degraded.shape.SequenceEqual(restored.shape))
            throw new TensorArgumentException(nameof(restored), $"shape [{string.Join(",", restored.shape)}] differs from degraded [{string.Join(",", degraded.shape)}].");
        if (taskIds.Count != degraded.shape[0])
            throw new TensorArgumentException(nameof(taskIds), $"{taskIds.Count} task ids for a batch of {degraded.shape[0]}.");

        using var scope = NewDisposeScope();
        var res = degraded - restored;
        var rms = res.Square().mean().sqrt();

        // |FFT2| per sample and channel over the last two axes, unscaled forward transform ("backward" norm).
        var modulus = fft.fft2(res, norm: FFTNormType.Backward).abs();
        var l2 = modulus.Square().mean(new long[] { 1, 2, 3 }).sqrt();
        var l1 = modulus.mean(new long[] { 1, 2, 3 });
        var useL2 = tensor(taskIds.Select(id => UsesL2(id)).ToArray(), device: degraded.device);
        var fourier = where(useL2, l2, l1).sum();
        var total = Lambda == 1.0 ? rms.Plus(fourier) : rms.Plus(fourier.Times(Lambda));
        return new FrotTerms(rms.MoveToOuterDisposeScope(), fourier.MoveToOuterDisposeScope(), total.MoveToOuterDisposeScope());
    }
}
