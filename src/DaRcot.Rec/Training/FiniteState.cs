using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Training;

/// <summary>
/// Finds NaN/±∞ in a network's weights or gradients or in an optimizer's state. The common case (all finite) costs
/// one reduction per tensor and a single read-back; only when the total is not finite are the tensors searched one by
/// one for a name to report.
/// </summary>
internal static class FiniteState
{
    /// <summary>The key of the first parameter holding a non-finite value, or null.</summary>
    public static string? FirstNonFiniteParameter(nn.Module module) => First(module.named_parameters().Select(p => (p.name, (Tensor?)p.parameter)));

    /// <summary>The key of the first parameter whose gradient holds a non-finite value, or null.</summary>
    public static string? FirstNonFiniteGradient(nn.Module module) => First(module.named_parameters().Select(p => (p.name, p.parameter.grad)));

    /// <summary>The first optimizer-state tensor holding a non-finite value (as <c>state[i].field</c>), or null. The state
    /// tensors are the public tensor fields of each parameter's state (RMSprop's <c>square_avg</c>, Adam's moments, ...).</summary>
    public static string? FirstNonFiniteOptimizerState(OptimizerHelper optimizer)
    {
        var states = optimizer.state_dict().State;
        var named = new List<(string, Tensor?)>();
        for (var i = 0; i < states.Count; i++)
            foreach (var field in states[i].GetType().GetFields(BindingFlags.Public | BindingFlags.Instance).Where(f => f.FieldType == typeof(Tensor)))
                named.Add(($"state[{i}].{field.Name}", (Tensor?)field.GetValue(states[i])));
        return First(named);
    }

    private static string? First(IEnumerable<(string Name, Tensor? Tensor)> tensors)
    {
        var list = tensors.Where(t => t.Tensor is not null && t.Tensor.is_floating_point()).ToList();
        if (list.Count == 0) return null;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // NaN and ±∞ survive a sum (∞ − ∞ is NaN), so one finite total clears them all.
        var sums = list.Select(t => t.Tensor!.detach().sum(ScalarType.Float64)).ToArray();
        if (double.IsFinite(stack(sums).sum().item<double>())) return null;
        return list.First(t => !t.Tensor!.detach().isfinite().all().item<bool>()).Name;
    }
}
