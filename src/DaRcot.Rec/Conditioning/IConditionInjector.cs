using static TorchSharp.torch;

namespace DaRcot.Rec.Conditioning;

/// <summary>
/// Called by a backbone at each of its <see cref="IConditionedBackbone.ConditionPoints"/> during a conditioned
/// pass. The injector returns the feature to continue with (for example feature + projection(embedding)).
/// Backbones know nothing else about REC: the operator lives in the injector, which the REC wrapper owns.
/// </summary>
public interface IConditionInjector
{
    /// <summary>Returns the conditioned version of <paramref name="feature"/> at <paramref name="point"/>.</summary>
    Tensor Inject(ConditionPoint point, Tensor feature);
}
