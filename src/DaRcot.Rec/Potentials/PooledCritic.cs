using DaRcot.Rec.Errors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Potentials;

/// <summary>
/// A size-agnostic potential: the official F_net convolution trunk (same <c>features.*</c> keys) followed by global
/// average pooling and a small head <c>fc1</c> (512→64), LeakyReLU(0.2), <c>fc2</c> (64→1). Not an official
/// module; use it when training on patches other than the official critic's fixed size.
/// </summary>
public sealed class PooledCritic : nn.Module<Tensor, Tensor>
{
    private readonly Sequential features;
    private readonly Linear fc1;
    private readonly Linear fc2;

    /// <summary>Builds the critic.</summary>
    public PooledCritic() : base("PooledCritic")
    {
        features = CriticTrunk.Build();
        fc1 = nn.Linear(CriticTrunk.OutChannels, 64);
        fc2 = nn.Linear(64, 1);
        RegisterComponents();
    }

    /// <summary>Smallest accepted input side (the trunk downsamples by 32).</summary>
    public const int MinimumSize = CriticTrunk.Stride;

    /// <summary>Returns φ(x) with shape [B] for any [B,3,H,W] with H, W ≥ 32.</summary>
    /// <exception cref="TensorArgumentException">The input is not [B,3,H,W] with H, W ≥ 32.</exception>
    public override Tensor forward(Tensor input)
    {
        if (input.dim() != 4 || input.shape[1] != 3 || input.shape[2] < MinimumSize || input.shape[3] < MinimumSize)
            throw new TensorArgumentException("input", $"PooledCritic accepts [B,3,H,W] with H, W >= {MinimumSize}, got [{string.Join(",", input.shape)}].");
        using var scope = NewDisposeScope();
        var h = features.call(input).mean(new long[] { 2, 3 });
        h = fc1.call(h).leaky_relu(CriticTrunk.NegativeSlope);
        return fc2.call(h).reshape(-1).MoveToOuterDisposeScope();
    }
}
