using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Checkpoints;

/// <summary>Helpers for state dicts whose names may share one tensor object (TorchSharp's Tensor.Equals compares values).</summary>
internal static class TensorSets
{
    public static List<Tensor> Unique(IEnumerable<Tensor> tensors) => tensors.Distinct<Tensor>(ReferenceEqualityComparer.Instance).ToList();

    public static void DisposeAll(params IEnumerable<Tensor>[] groups)
    {
        foreach (var t in Unique(groups.SelectMany(g => g))) t.Dispose();
    }
}
