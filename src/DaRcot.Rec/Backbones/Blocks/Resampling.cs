using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Backbones.Blocks;

/// <summary>Restormer's <c>OverlapPatchEmbed</c>: a 3×3 conv (key <c>proj</c>).</summary>
public sealed class OverlapPatchEmbed : nn.Module<Tensor, Tensor>
{
    private readonly VerifiedConv2d proj;

    /// <summary>Creates the embedding <paramref name="inChannels"/> → <paramref name="embedDim"/>.</summary>
    public OverlapPatchEmbed(long inChannels, long embedDim, bool bias) : base("OverlapPatchEmbed")
    {
        proj = VerifiedConv2d.Create(inChannels, embedDim, 3, padding: 1, bias: bias);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => proj.forward(x);
}

/// <summary>Restormer's <c>Downsample</c>: conv3 n→n/2 then PixelUnshuffle(2), giving 2n channels at half size (key <c>body.0</c>).</summary>
public sealed class RestormerDownsample : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> body;

    /// <summary>Creates the downsampler for <paramref name="channels"/> input channels.</summary>
    public RestormerDownsample(long channels) : base("Downsample")
    {
        body = nn.Sequential(("0", VerifiedConv2d.Create(channels, channels / 2, 3, padding: 1, bias: false)), ("1", nn.PixelUnshuffle(2)));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => body.forward(x);
}

/// <summary>Restormer's <c>Upsample</c>: conv3 n→2n then PixelShuffle(2), giving n/2 channels at double size (key <c>body.0</c>).</summary>
public sealed class RestormerUpsample : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> body;

    /// <summary>Creates the upsampler for <paramref name="channels"/> input channels.</summary>
    public RestormerUpsample(long channels) : base("Upsample")
    {
        body = nn.Sequential(("0", VerifiedConv2d.Create(channels, channels * 2, 3, padding: 1, bias: false)), ("1", nn.PixelShuffle(2)));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => body.forward(x);
}
