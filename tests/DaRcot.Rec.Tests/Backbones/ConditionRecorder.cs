using DaRcot.Rec.Conditioning;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Backbones;

/// <summary>Test injector: records every call and adds <see cref="Offset"/> (0 = no change).</summary>
internal sealed class ConditionRecorder(double offset = 0) : IConditionInjector
{
    public double Offset { get; } = offset;
    public List<(ConditionPoint Point, long[] Shape)> Calls { get; } = [];

    public Tensor Inject(ConditionPoint point, Tensor feature)
    {
        Calls.Add((point, feature.shape));
        return Offset == 0 ? feature : feature + Offset;
    }
}
