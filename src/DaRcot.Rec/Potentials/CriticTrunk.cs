using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Potentials;

/// <summary>Builds the official F_net convolution trunk (<c>features.0..19</c>), shared by both critics.</summary>
internal static class CriticTrunk
{
    // (in, out, kernel, stride, padding, bias) for the ten convs at even indices (spec §3).
    private static readonly (int In, int Out, int K, int S, int P, bool Bias)[] Convs =
    {
        (3, 64, 5, 1, 2, true), (64, 64, 4, 2, 1, true),
        (64, 128, 3, 1, 1, true), (128, 128, 4, 2, 1, true),
        (128, 256, 3, 1, 1, true), (256, 256, 4, 2, 1, true),
        (256, 512, 3, 1, 1, false), (512, 512, 4, 2, 1, false),
        (512, 512, 3, 1, 1, false), (512, 512, 4, 2, 1, false),
    };

    /// <summary>Total spatial downsampling of the trunk (five stride-2 convs); also the smallest input side, since
    /// the last 4×4 stride-2 conv needs at least 2×2 input.</summary>
    public const int Stride = 32;

    /// <summary>Channels of the official trunk's output.</summary>
    public const int OutChannels = 512;

    /// <summary>The official LeakyReLU slope (0.2) as a Scalar, for the heads' <c>leaky_relu</c>.</summary>
    public static readonly Scalar NegativeSlope = Scalars.Constant(0.2);

    /// <summary>The official width: channels of the first conv (the others are 1×, 2×, 4×, 8× it).</summary>
    public const int OfficialWidth = 64;

    /// <summary>Channels of the output of a trunk of <paramref name="width"/>.</summary>
    public static int OutChannelsAt(int width) => OutChannels * width / OfficialWidth;

    /// <summary>Parameters of a trunk of <paramref name="width"/> (without building it).</summary>
    public static long ParameterCount(int width) =>
        Convs.Select(c => Scaled(c, width)).Sum(c => (long)c.In * c.Out * c.K * c.K + (c.Bias ? c.Out : 0));

    // The official table with every channel count scaled by width / 64 (the image's 3 input channels stay).
    private static (int In, int Out, int K, int S, int P, bool Bias) Scaled((int In, int Out, int K, int S, int P, bool Bias) c, int width) =>
        c with { In = c.In == 3 ? 3 : c.In * width / OfficialWidth, Out = c.Out * width / OfficialWidth };

    /// <summary>Builds the trunk; <paramref name="width"/> other than 64 scales every layer (not official).</summary>
    public static Sequential Build(int width = OfficialWidth)
    {
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        for (var i = 0; i < Convs.Length; i++)
        {
            var c = Scaled(Convs[i], width);
            var conv = VerifiedConv2d.Create(c.In, c.Out, c.K, stride: c.S, padding: c.P, bias: c.Bias);
            // Official init: conv weights ~ N(0, 0.02); biases keep the framework default.
            using (no_grad()) conv.weight!.normal_(0.0, 0.02);
            layers.Add(((2 * i).ToString(System.Globalization.CultureInfo.InvariantCulture), conv));
            layers.Add(((2 * i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), new LeakyRelu(0.2)));
        }
        return nn.Sequential(layers);
    }
}
