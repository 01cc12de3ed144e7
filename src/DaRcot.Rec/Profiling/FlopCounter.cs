using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Profiling;

/// <summary>
/// Counts the parameters of any model and the multiply-adds of one forward pass, reported as FLOPs = 2 ×
/// multiply-adds (see <see cref="FlopCount"/> for what is and is not counted).
/// </summary>
/// <remarks>
/// <para>The count runs one real forward pass (under <c>no_grad</c>, in eval mode, on zeros of the given shape) and
/// adds up the work of the layers as they run, so output sizes, strides, padding and any data-independent control
/// flow are exactly what the model does; nothing is inferred from the module tree. A convolution costs
/// N × C_out × H_out × W_out × (C_in / groups) × k_h × k_w multiply-adds (bias adds ignored); a linear layer
/// (elements of the output) × in_features; a matrix product A[…,m,k]·B[…,k,n] (elements of the output) × k.</para>
/// <para>The library's convolutions (<see cref="VerifiedConv2d"/>) and Restormer's attention matmuls report from
/// inside their forward, so they are counted however their parent invokes them. TorchSharp's own
/// <c>Conv1d/2d/3d</c>, <c>ConvTranspose*</c> and <c>Linear</c> are counted through forward hooks, which TorchSharp
/// runs only when a layer is invoked with <c>call()</c>, not <c>forward()</c>: a custom model that calls a stock
/// layer's <c>forward</c> directly is undercounted by that layer. Matrix products written inline in other custom
/// modules are not seen.</para>
/// <para>The pass runs on the calling thread and costs one forward pass; other threads using the same model at the
/// same time are not counted (the tally is thread-local), but they do run the temporary hooks.</para>
/// </remarks>
public static class FlopCounter
{
    /// <summary>Elements of all parameters of <paramref name="model"/>: the usual "parameter count".</summary>
    public static long CountParameters(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.parameters().Sum(p => p.numel());
    }

    /// <summary>Counts one forward pass of <paramref name="model"/> on zeros of <paramref name="inputShape"/>
    /// (float32, on the device of the model's first parameter, or the CPU when it has none).</summary>
    /// <param name="model">Any single-tensor model; its training flags are restored afterwards.</param>
    /// <param name="inputShape">The input shape, e.g. <c>[1, 3, 256, 256]</c>.</param>
    public static FlopCount Count(nn.Module<Tensor, Tensor> model, params long[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        var device = model.parameters().FirstOrDefault()?.device ?? CPU;
        using var input = zeros(inputShape, device: device);
        return Count(model, input);
    }

    /// <summary>Counts one forward pass of <paramref name="model"/> on <paramref name="input"/> (which is not
    /// modified or disposed). The count does not depend on the values, only on the shape.</summary>
    /// <param name="model">Any single-tensor model; its training flags are restored afterwards.</param>
    /// <param name="input">The input batch.</param>
    public static FlopCount Count(nn.Module<Tensor, Tensor> model, Tensor input)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(input);
        var modules = new[] { (nn.Module)model }.Concat(model.modules()).Distinct<nn.Module>(ReferenceEqualityComparer.Instance).ToList();
        // Pre-order (parents first), so restoring in this order gives every module back its own flag.
        var training = modules.Select(m => (Module: m, m.training)).ToList();
        var removers = AttachStockHooks(modules);
        var tally = new OpTally();
        var previous = OpTally.Swap(tally);
        try
        {
            // Eval mode: a batch norm in training mode would update its running statistics from the zeros.
            model.eval();
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            _ = model.call(input);
        }
        finally
        {
            OpTally.Swap(previous);
            foreach (var remove in removers) remove();
            foreach (var (module, wasTraining) in training) module.train(wasTraining);
        }
        return new FlopCount(CountParameters(model), input.shape, tally.ConvMacs, tally.LinearMacs, tally.MatmulMacs);
    }

    // Hooks on TorchSharp's stock layers; VerifiedConv2d reports from its forward and is skipped so that a call()
    // of it is not counted twice.
    private static List<Action> AttachStockHooks(IEnumerable<nn.Module> modules)
    {
        var removers = new List<Action>();
        foreach (var module in modules)
        {
            switch (module)
            {
                case VerifiedConv2d:
                    break;
                case Convolution conv:
                    removers.Add(conv.register_forward_hook((m, input, output) =>
                    {
                        var c = (Convolution)m;
                        long kernelArea = c.kernel_size.Aggregate(1L, (a, k) => a * k);
                        if (c.transposed) OpTally.TransposedConvolution(input, c.out_channels / c.groups, kernelArea);
                        else OpTally.Convolution(output, c.in_channels / c.groups, kernelArea);
                        return output;
                    }).remove);
                    break;
                case Linear linear:
                    removers.Add(linear.register_forward_hook((_, input, output) =>
                    {
                        OpTally.Linear(output, input.shape[^1]);
                        return output;
                    }).remove);
                    break;
            }
        }
        return removers;
    }
}
