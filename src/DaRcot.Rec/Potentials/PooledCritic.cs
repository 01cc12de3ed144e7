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

    /// <summary>Builds the critic with the official trunk width (64; 13.8 M parameters).</summary>
    public PooledCritic() : this(CriticTrunk.OfficialWidth)
    {
    }

    /// <summary>Builds the critic with a trunk of <paramref name="width"/> channels at its first level (1×, 2×, 4×,
    /// 8× that further down; 64 is the official trunk). A tiny transport network needs no 13.8 M-parameter critic:
    /// the critic and its optimizer state are most of a checkpoint's size.</summary>
    /// <exception cref="TrainingConfigException">The width is not one of 8, 16, 32, 64.</exception>
    public PooledCritic(int width) : base("PooledCritic")
    {
        if (width is not (8 or 16 or 32 or 64))
            throw new TrainingConfigException("potential.width", $"must be 8, 16, 32 or 64, got {width}.");
        Width = width;
        features = CriticTrunk.Build(width);
        fc1 = nn.Linear(CriticTrunk.OutChannelsAt(width), 64);
        fc2 = nn.Linear(64, 1);
        RegisterComponents();
    }

    /// <summary>Channels of the trunk's first level (64 = official).</summary>
    public int Width { get; }

    /// <summary>Parameters of a pooled critic of <paramref name="width"/>, without building it.</summary>
    public static long ParameterCount(int width) => CriticTrunk.ParameterCount(width) + CriticTrunk.OutChannelsAt(width) * 64L + 64 + 64 + 1;

    /// <summary>
    /// The width for a critic sized to a transport network of <paramref name="transportParameters"/> parameters: the
    /// largest of 8, 16, 32, 64 whose critic has no more parameters than the transport network (8 at least).
    /// </summary>
    public static int WidthFor(long transportParameters) =>
        new[] { 64, 32, 16 }.FirstOrDefault(w => ParameterCount(w) <= transportParameters, 8);

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
