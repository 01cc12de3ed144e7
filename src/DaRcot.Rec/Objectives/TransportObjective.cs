using DaRcot.Rec.Errors;
using static TorchSharp.torch;

namespace DaRcot.Rec.Objectives;

/// <summary>Every term of one transport-loss evaluation. Owns its tensors (scalars carrying the graph).</summary>
public sealed class TransportLossTerms : IDisposable
{
    /// <summary>The total L_T to back-propagate.</summary>
    public required Tensor Total { get; init; }

    /// <summary>mean φ(T(x)).</summary>
    public required Tensor PotentialOfRestored { get; init; }

    /// <summary>Batch RMS of the residual.</summary>
    public required Tensor Rms { get; init; }

    /// <summary>Summed Fourier-residual penalty.</summary>
    public required Tensor Fourier { get; init; }

    /// <summary>Unweighted contrastive loss (paired iterations with an embedding only).</summary>
    public Tensor? Contrastive { get; init; }

    /// <summary>Unweighted mean|T(x) − y| (paired iterations only).</summary>
    public Tensor? L1 { get; init; }

    /// <summary>The named terms, for finiteness checks and logging.</summary>
    public IEnumerable<(string Name, Tensor Value)> Named()
    {
        yield return ("potential_restored", PotentialOfRestored);
        yield return ("rms", Rms);
        yield return ("fourier", Fourier);
        if (Contrastive is not null) yield return ("contrastive", Contrastive);
        if (L1 is not null) yield return ("l1", L1);
        yield return ("transport_loss", Total);
    }

    /// <summary>Disposes every tensor.</summary>
    public void Dispose()
    {
        Total.Dispose();
        PotentialOfRestored.Dispose();
        Rms.Dispose();
        Fourier.Dispose();
        Contrastive?.Dispose();
        L1?.Dispose();
    }
}

/// <summary>
/// The official transport loss (spec §4.2):
/// paired: L_T = −mean φ(ŷ) + sigma·(rms + λ·fourier + w_c·contrastive) + Sigma·mean|ŷ − y|;
/// unpaired: L_T = −mean φ(ŷ) + sigma·(rms + λ·fourier).
/// </summary>
public sealed class TransportObjective
{
    /// <summary>The FROT cost (λ and task→norm mapping).</summary>
    public FrotCost Cost { get; init; } = new();

    /// <summary>The contrastive loss (form, τ).</summary>
    public ContrastiveLoss Contrastive { get; init; } = new();

    /// <summary>Official <c>sigma</c> (weight of the cost and contrastive terms).</summary>
    public double CostWeight { get; init; } = 1.0;

    /// <summary>Official <c>Sigma</c> (weight of the paired L1 term).</summary>
    public double PairedWeight { get; init; } = 10000.0;

    /// <summary>Weight of the contrastive term inside sigma·(…) (official 0.1).</summary>
    public double ContrastiveWeight { get; init; } = 0.1;

    /// <summary>Computes L_T and its terms.</summary>
    /// <param name="potentialOfRestored">φ(ŷ), shape [B] or [B,1].</param>
    /// <param name="degraded">x, [B,C,H,W].</param>
    /// <param name="restored">ŷ = T(x).</param>
    /// <param name="target">y; required when <paramref name="paired"/>.</param>
    /// <param name="embedding">The dense residual embedding (R3) or null (no contrastive term).</param>
    /// <param name="taskIds">Task id per sample.</param>
    /// <param name="paired">Use the paired branch.</param>
    public TransportLossTerms Compute(Tensor potentialOfRestored, Tensor degraded, Tensor restored, Tensor? target,
        Tensor? embedding, IReadOnlyList<long> taskIds, bool paired)
    {
        ArgumentNullException.ThrowIfNull(potentialOfRestored);
        if (paired && target is null)
            throw new TensorArgumentException(nameof(target), "the paired branch needs the targets.");
        using var scope = NewDisposeScope();
        var phi = potentialOfRestored.mean();
        var frot = Cost.Compute(degraded, restored, taskIds);
        Tensor inner = frot.Total;
        Tensor? contrastive = null, l1 = null;
        if (paired)
        {
            if (embedding is not null)
            {
                contrastive = Contrastive.Compute(embedding, taskIds);
                inner = inner.Plus(contrastive.Times(ContrastiveWeight));
            }
            l1 = PairedCost.MeanAbsolute(restored, target!);
        }
        var total = (-phi).Plus(inner.Times(CostWeight));
        if (l1 is not null) total = total.Plus(l1.Times(PairedWeight));
        return new TransportLossTerms
        {
            Total = total.MoveToOuterDisposeScope(),
            PotentialOfRestored = phi.MoveToOuterDisposeScope(),
            Rms = frot.Rms.MoveToOuterDisposeScope(),
            Fourier = frot.Fourier.MoveToOuterDisposeScope(),
            Contrastive = contrastive?.MoveToOuterDisposeScope(),
            L1 = l1?.MoveToOuterDisposeScope(),
        };
    }

    /// <summary>The potential's Wasserstein loss −mean φ(y) + mean φ(ŷ) (spec §4.1, first optimizer step).</summary>
    public static Tensor PotentialLoss(Tensor potentialOfTarget, Tensor potentialOfRestored)
    {
        ArgumentNullException.ThrowIfNull(potentialOfTarget);
        ArgumentNullException.ThrowIfNull(potentialOfRestored);
        using var scope = NewDisposeScope();
        return (potentialOfRestored.mean() - potentialOfTarget.mean()).MoveToOuterDisposeScope();
    }
}
