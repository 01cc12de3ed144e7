using System.Globalization;
using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Backbones;

/// <summary>
/// NAFNet (Chen et al., ECCV 2022) with the official module tree (<c>intro, encoders.i.k, downs.i, middle_blks.k,
/// ups.j.0, decoders.j.k, ending</c>), so the official checkpoints load strictly (<c>torch.load(f)['params']</c>).
/// Like the official forward it zero-pads bottom/right to a multiple of 2^levels (16), adds the padded input as a
/// global residual and crops back, so it accepts any size. With <see cref="NAFNetConfig.Tlc"/> it is the official
/// <c>NAFNetLocal</c> (test-time local converter), which the GoPro and REDS results need.
/// </summary>
/// <remarks>
/// Condition points are the decoder inputs after <c>ups[j]</c> + skip, at 1/8 (8w), 1/4 (4w), 1/2 (2w) and 1 (w) for
/// four levels, named <c>scale_1_8 … scale_1</c> like Restormer's. Their scales refer to the padded size.
/// </remarks>
public sealed class NAFNet : nn.Module<Tensor, Tensor>, ISplitConditionedBackbone
{
    // Official attribute names and registration order.
    private readonly VerifiedConv2d intro;
    private readonly VerifiedConv2d ending;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> encoders;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> decoders;
    private readonly nn.Module<Tensor, Tensor> middle_blks;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> ups;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> downs;

    private readonly ConditionPoint[] _points;
    private readonly int _levels;

    /// <summary>The configuration this network was built from.</summary>
    public NAFNetConfig Config { get; }

    /// <inheritdoc />
    public IReadOnlyList<ConditionPoint> ConditionPoints => _points;

    /// <summary>The official <c>padder_size</c>, 2^levels (16 for every release). The forward pads to it by itself;
    /// conditioned passes need inputs already padded so that condition maps line up.</summary>
    public int SizeMultiple => 1 << _levels;

    /// <inheritdoc />
    public long InputChannels => Config.ImgChannel;

    /// <summary>Builds the network; prefer <see cref="Create"/>.</summary>
    public NAFNet(NAFNetConfig config) : base(nameof(NAFNet))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        _levels = config.EncBlkNums.Length;
        long w = config.Width;

        intro = VerifiedConv2d.Create(config.ImgChannel, w, 3, padding: 1, bias: true);
        ending = VerifiedConv2d.Create(w, config.ImgChannel, 3, padding: 1, bias: true);
        encoders = new ModuleList<nn.Module<Tensor, Tensor>>();
        decoders = new ModuleList<nn.Module<Tensor, Tensor>>();
        ups = new ModuleList<nn.Module<Tensor, Tensor>>();
        downs = new ModuleList<nn.Module<Tensor, Tensor>>();

        var chan = w;
        for (var level = 0; level < _levels; level++)
        {
            encoders.Add(Blocks(config.EncBlkNums[level], chan, level));
            downs.Add(VerifiedConv2d.Create(chan, chan * 2, 2, stride: 2, bias: true));
            chan *= 2;
        }
        middle_blks = Blocks(config.MiddleBlkNum, chan, _levels);
        var points = new List<ConditionPoint>();
        for (var j = 0; j < _levels; j++)
        {
            ups.Add(nn.Sequential(("0", VerifiedConv2d.Create(chan, chan * 2, 1, bias: false)), ("1", nn.PixelShuffle(2))));
            chan /= 2;
            var level = _levels - 1 - j;
            decoders.Add(Blocks(config.DecBlkNums[j], chan, level));
            var downscale = 1 << level;
            points.Add(new ConditionPoint(downscale == 1 ? "scale_1" : $"scale_1_{downscale.ToString(CultureInfo.InvariantCulture)}", downscale, chan));
        }
        _points = points.ToArray();
        RegisterComponents();
    }

    /// <summary>Builds NAFNet from <paramref name="config"/> (official defaults when null).</summary>
    public static NAFNet Create(NAFNetConfig? config = null) => new(config ?? new NAFNetConfig());

    /// <summary>The TLC kernel (square) used at <paramref name="level"/> (0 = full resolution, levels = middle):
    /// the feature size a <c>tlc_train_size</c>² input reaches there, times 1.5 (official <c>NAFNetLocal</c>).</summary>
    public static long TlcKernel(NAFNetConfig config, int level)
    {
        ArgumentNullException.ThrowIfNull(config);
        long train = config.TlcTrainSize;
        long padder = 1L << config.EncBlkNums.Length;
        // The official converter runs a dummy train-size input, which the forward pads to the padder size first.
        var padded = (train + padder - 1) / padder * padder;
        var feature = padded >> level;
        var baseSize = (long)(train * 1.5);
        return feature * baseSize / train;
    }

    private nn.Module<Tensor, Tensor> Blocks(int count, long channels, int level)
    {
        var blocks = new (string, nn.Module<Tensor, Tensor>)[count];
        for (var k = 0; k < count; k++)
        {
            nn.Module<Tensor, Tensor>? pool = null;
            if (Config.Tlc)
            {
                var kernel = TlcKernel(Config, level);
                pool = new LocalAvgPool2d(kernel, kernel);
            }
            blocks[k] = (k.ToString(CultureInfo.InvariantCulture), new NafBlock(channels, pool));
        }
        return nn.Sequential(blocks);
    }

    /// <summary>The official forward: any H×W; zero-pads to <see cref="SizeMultiple"/> inside and crops back.</summary>
    public override Tensor forward(Tensor x) => ForwardConditioned(x, null);

    /// <inheritdoc />
    public Tensor ForwardConditioned(Tensor x, IConditionInjector? injector) => this.EncodeThenDecode(x, injector);

    /// <summary>Zero-pads, then runs <c>intro</c>, the encoders and the middle blocks. Features keep the padded
    /// input (global residual) and the original size.</summary>
    public BackboneFeatures Encode(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != Config.ImgChannel)
            throw new TensorArgumentException("x", $"NAFNet expects NCHW with {Config.ImgChannel} channels, got [{string.Join(",", x.shape)}].");
        using var scope = NewDisposeScope();
        long h = x.shape[2], w = x.shape[3], m = SizeMultiple;
        long padH = (m - h % m) % m, padW = (m - w % m) % m;
        var inp = padH == 0 && padW == 0 ? x.alias() : nn.functional.pad(x, [0, padW, 0, padH], PaddingModes.Constant, 0);
        var tensors = new Dictionary<string, Tensor> { ["padded_input"] = inp };
        var t = intro.forward(inp);
        for (var i = 0; i < _levels; i++)
        {
            t = encoders[i].forward(t);
            tensors[$"skip_{i.ToString(CultureInfo.InvariantCulture)}"] = t;
            t = downs[i].forward(t);
        }
        tensors["middle"] = middle_blks.forward(t);
        foreach (var v in tensors.Values) v.MoveToOuterDisposeScope();
        return new BackboneFeatures(x, tensors);
    }

    /// <summary>Runs the decoders (calling <paramref name="injector"/> at each decoder input) and the ending, adds the
    /// padded input and crops to the original size.</summary>
    public Tensor Decode(BackboneFeatures features, IConditionInjector? injector)
    {
        ArgumentNullException.ThrowIfNull(features);
        using var scope = NewDisposeScope();
        var f = features.Tensors;
        var t = f["middle"];
        for (var j = 0; j < _levels; j++)
        {
            t = ups[j].forward(t).Plus(f[$"skip_{(_levels - 1 - j).ToString(CultureInfo.InvariantCulture)}"]);
            if (injector is not null) t = injector.Inject(_points[j], t);
            t = decoders[j].forward(t);
        }
        var y = ending.forward(t).Plus(f["padded_input"]);
        long h = features.Input.shape[2], w = features.Input.shape[3];
        if (y.shape[2] != h || y.shape[3] != w) y = y[.., .., ..(int)h, ..(int)w];
        return y.MoveToOuterDisposeScope();
    }
}
