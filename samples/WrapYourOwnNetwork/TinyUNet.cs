using DaRcot.Rec.Conditioning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WrapYourOwnNetwork;

/// <summary>
/// Stand-in for YOUR restoration network: a three-level U-Net that predicts a residual. The only REC-specific
/// part is <see cref="IConditionedBackbone"/>: the network names a few places (condition points) where a second
/// pass may be nudged, and calls the injector there. Everything else is an ordinary TorchSharp module.
/// </summary>
public sealed class TinyUNet : nn.Module<Tensor, Tensor>, IConditionedBackbone
{
    private readonly Conv2d head, down1, down2, tail;
    private readonly Sequential middle;
    private readonly ConvTranspose2d up2, up1;

    // One point per decoder scale. The REGM produces an embedding at each point's downscale and the injector
    // projects it to the point's channel count, so these three numbers are all the wrapper needs to know.
    private readonly ConditionPoint[] _points;

    /// <summary>Builds the network with <paramref name="width"/> channels at full resolution.</summary>
    public TinyUNet(long width = 16) : base(nameof(TinyUNet))
    {
        head = nn.Conv2d(3, width, 3, padding: 1);
        down1 = nn.Conv2d(width, width * 2, 4, stride: 2, padding: 1);        // 1/2
        down2 = nn.Conv2d(width * 2, width * 4, 4, stride: 2, padding: 1);    // 1/4
        middle = nn.Sequential(
            ("0", nn.Conv2d(width * 4, width * 4, 3, padding: 1)), ("1", nn.GELU()),
            ("2", nn.Conv2d(width * 4, width * 4, 3, padding: 1)));
        up2 = nn.ConvTranspose2d(width * 4, width * 2, 2, stride: 2);          // back to 1/2
        up1 = nn.ConvTranspose2d(width * 2, width, 2, stride: 2);              // back to full size
        tail = nn.Conv2d(width, 3, 3, padding: 1);
        _points = [new("middle", 4, width * 4), new("decoder_1_2", 2, width * 2), new("decoder_1", 1, width)];
        RegisterComponents();
    }

    /// <inheritdoc />
    public IReadOnlyList<ConditionPoint> ConditionPoints => _points;

    /// <summary>Two stride-2 levels: inputs must be multiples of 4 (the wrapper pads them for us).</summary>
    public int SizeMultiple => 4;

    /// <inheritdoc />
    public long InputChannels => 3;

    /// <summary>The plain network: no injector, so nothing changes when it is used without REC.</summary>
    public override Tensor forward(Tensor x) => ForwardConditioned(x, null);

    /// <inheritdoc />
    public Tensor ForwardConditioned(Tensor x, IConditionInjector? injector)
    {
        // With a null injector every Inject call is skipped, so pass 1 is exactly the plain network.
        Tensor At(int i, Tensor feature) => injector is null ? feature : injector.Inject(_points[i], feature);

        var e1 = F.gelu(head.call(x));
        var e2 = F.gelu(down1.call(e1));
        var m = At(0, middle.call(F.gelu(down2.call(e2))));
        var d2 = At(1, F.gelu(up2.call(m)) + e2);
        var d1 = At(2, F.gelu(up1.call(d2)) + e1);
        return x + tail.call(d1);    // predict the correction, not the image: an easy start for restoration
    }
}
