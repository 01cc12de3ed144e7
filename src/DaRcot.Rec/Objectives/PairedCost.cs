using DaRcot.Rec.Errors;
using static TorchSharp.torch;

namespace DaRcot.Rec.Objectives;

/// <summary>
/// The paired term of the official transport loss: <c>Sigma · mean|T(x) − y|</c> (spec §4.2; Sigma = 10⁴ by
/// default, which makes it the dominant term in paired training).
/// </summary>
public sealed class PairedCost
{
    /// <summary>Weight Sigma (official default 10000).</summary>
    public double Sigma { get; init; } = 10000.0;

    /// <summary>The unweighted mean absolute difference mean|restored − target|.</summary>
    public static Tensor MeanAbsolute(Tensor restored, Tensor target)
    {
        ArgumentNullException.ThrowIfNull(restored);
        ArgumentNullException.ThrowIfNull(target);
        if (!restored.shape.SequenceEqual(target.shape))
            throw new TensorArgumentException(nameof(target), $"shape [{string.Join(",", target.shape)}] differs from restored [{string.Join(",", restored.shape)}].");
        using var scope = NewDisposeScope();
        return (restored - target).abs().mean().MoveToOuterDisposeScope();
    }

    /// <summary>Sigma · mean|restored − target|.</summary>
    public Tensor Compute(Tensor restored, Tensor target)
    {
        using var scope = NewDisposeScope();
        return MeanAbsolute(restored, target).Times(Sigma).MoveToOuterDisposeScope();
    }
}
