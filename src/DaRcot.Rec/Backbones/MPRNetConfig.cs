using System.Text.Json.Serialization;
using DaRcot.Rec.Errors;
using static TorchSharp.torch;

namespace DaRcot.Rec.Backbones;

/// <summary>
/// Constructor arguments of the official <c>MPRNet</c> (JSON names are the official argument names). The defaults are
/// those of <c>Deblurring/MPRNet.py</c>; the denoising and deraining files use other defaults (see the presets).
/// </summary>
public sealed record MPRNetConfig
{
    /// <summary>Input image channels (<c>in_c</c>); must be 3 because the SAMs hard-code 3 image channels.</summary>
    [JsonPropertyName("in_c")] public int InC { get; init; } = 3;

    /// <summary>Output image channels (<c>out_c</c>); must be 3 (the output adds the input image).</summary>
    [JsonPropertyName("out_c")] public int OutC { get; init; } = 3;

    /// <summary>Base width n (<c>n_feat</c>): U-Net level 1 width.</summary>
    [JsonPropertyName("n_feat")] public int NFeat { get; init; } = 96;

    /// <summary>U-Net width step s (<c>scale_unetfeats</c>): levels are n, n+s, n+2s.</summary>
    [JsonPropertyName("scale_unetfeats")] public int ScaleUnetFeats { get; init; } = 48;

    /// <summary>ORSNet extra width o (<c>scale_orsnetfeats</c>): stage 3 runs at n+o.</summary>
    [JsonPropertyName("scale_orsnetfeats")] public int ScaleOrsnetFeats { get; init; } = 32;

    /// <summary>CABs per ORB (<c>num_cab</c>).</summary>
    [JsonPropertyName("num_cab")] public int NumCab { get; init; } = 8;

    /// <summary>Kernel size of the K×K convs (<c>kernel_size</c>); odd.</summary>
    [JsonPropertyName("kernel_size")] public int KernelSize { get; init; } = 3;

    /// <summary>Channel-attention reduction (<c>reduction</c>): hidden width = C // reduction.</summary>
    [JsonPropertyName("reduction")] public int Reduction { get; init; } = 4;

    /// <summary>Whether the convs that take <c>bias</c> have one (<c>bias</c>); false in every official model.</summary>
    [JsonPropertyName("bias")] public bool Bias { get; init; }

    /// <summary><c>Deblurring/MPRNet.py</c> defaults (model_deblurring.pth): 96/48/32, 20,127,073 parameters.</summary>
    public static MPRNetConfig Deblurring { get; } = new();

    /// <summary><c>Denoising/MPRNet.py</c> defaults (model_denoising.pth): 80/48/32, 15,741,025 parameters.</summary>
    public static MPRNetConfig Denoising { get; } = new() { NFeat = 80, ScaleUnetFeats = 48, ScaleOrsnetFeats = 32 };

    /// <summary><c>Deraining/MPRNet.py</c> defaults (model_deraining.pth): 40/20/16, 3,637,249 parameters.</summary>
    public static MPRNetConfig Deraining { get; } = new() { NFeat = 40, ScaleUnetFeats = 20, ScaleOrsnetFeats = 16 };

    /// <summary>Throws <see cref="ModelConfigException"/> naming the first invalid field.</summary>
    public MPRNetConfig Validate()
    {
        if (InC != 3) throw new ModelConfigException("in_c", $"must be 3 (MPRNet's SAMs hard-code 3 image channels); got {InC}.");
        if (OutC != 3) throw new ModelConfigException("out_c", $"must be 3 (the output adds the 3-channel input); got {OutC}.");
        if (NFeat < 1) throw new ModelConfigException("n_feat", $"must be positive; got {NFeat}.");
        if (ScaleUnetFeats < 0) throw new ModelConfigException("scale_unetfeats", $"must be ≥ 0; got {ScaleUnetFeats}.");
        if (ScaleOrsnetFeats < 0) throw new ModelConfigException("scale_orsnetfeats", $"must be ≥ 0; got {ScaleOrsnetFeats}.");
        if (NumCab < 1) throw new ModelConfigException("num_cab", $"must be ≥ 1; got {NumCab}.");
        if (KernelSize < 1 || KernelSize % 2 == 0) throw new ModelConfigException("kernel_size", $"must be a positive odd number; got {KernelSize}.");
        if (Reduction < 1) throw new ModelConfigException("reduction", $"must be ≥ 1; got {Reduction}.");
        // The narrowest channel attention is at n; its hidden width n // reduction must be at least one channel.
        if (NFeat / Reduction < 1) throw new ModelConfigException("reduction", $"n_feat // reduction must be ≥ 1; got {NFeat} // {Reduction}.");
        return this;
    }

    /// <summary>
    /// Infers the configuration from an MPRNet state_dict (keys with or without the DataParallel <c>module.</c>
    /// prefix): n from <c>shallow_feat1.0.weight</c>, s from <c>stage1_encoder.down12.down.1.weight</c> − n, o from
    /// <c>concat23.weight</c> − n, num_cab from the number of ORB blocks, reduction from the CA widths, bias from any
    /// <c>.bias</c> key. Throws <see cref="ModelConfigException"/> naming the missing key.
    /// </summary>
    public static MPRNetConfig InferFromStateDict(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        var prefix = stateDict.ContainsKey("shallow_feat1.0.weight") || !stateDict.ContainsKey("module.shallow_feat1.0.weight") ? "" : "module.";

        long[] Shape(string field, string key) =>
            stateDict.TryGetValue(prefix + key, out var t)
                ? t.shape
                : throw new ModelConfigException(field, $"cannot infer it: the state_dict has no key '{prefix}{key}' (is this an MPRNet checkpoint?).");

        var head = Shape("n_feat", "shallow_feat1.0.weight");
        long n = head[0], inC = head[1], kernel = head[2];
        var s = Shape("scale_unetfeats", "stage1_encoder.down12.down.1.weight")[0] - n;
        var o = Shape("scale_orsnetfeats", "concat23.weight")[0] - n;
        var outC = Shape("out_c", "tail.weight")[0];

        var numCab = 0;
        while (stateDict.ContainsKey($"{prefix}stage3_orsnet.orb1.body.{numCab}.CA.conv_du.0.weight")) numCab++;
        if (numCab == 0) throw new ModelConfigException("num_cab", $"cannot infer it: no key '{prefix}stage3_orsnet.orb1.body.0.CA.conv_du.0.weight'.");

        // The hidden CA widths are C // reduction at C = n, n+s, n+2s and n+o; several reductions can give the same
        // widths on tiny models, so prefer the official 4, then the smallest that fits every level.
        var widths = new (long Channels, long Hidden)[]
        {
            (n, Shape("reduction", "shallow_feat1.1.CA.conv_du.0.weight")[0]),
            (n + s, Shape("reduction", "stage1_encoder.encoder_level2.0.CA.conv_du.0.weight")[0]),
            (n + 2 * s, Shape("reduction", "stage1_encoder.encoder_level3.0.CA.conv_du.0.weight")[0]),
            (n + o, Shape("reduction", "stage3_orsnet.orb1.body.0.CA.conv_du.0.weight")[0]),
        };
        bool Fits(long r) => widths.All(w => w.Channels / r == w.Hidden);
        var reduction = Fits(4) ? 4 : Enumerable.Range(1, (int)n).Select(r => (long)r).FirstOrDefault(Fits);
        if (reduction == 0) throw new ModelConfigException("reduction", "no reduction reproduces the channel-attention widths of this state_dict.");

        var bias = stateDict.ContainsKey(prefix + "shallow_feat1.0.bias");
        return new MPRNetConfig
        {
            InC = (int)inC, OutC = (int)outC, NFeat = (int)n, ScaleUnetFeats = (int)s, ScaleOrsnetFeats = (int)o,
            NumCab = numCab, KernelSize = (int)kernel, Reduction = (int)reduction, Bias = bias,
        }.Validate();
    }
}
