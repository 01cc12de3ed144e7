using System.Diagnostics.CodeAnalysis;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Models;

/// <summary>
/// An official release checkpoint: which architecture and configuration it needs, where its state_dict sits,
/// and how the official scripts pad inputs. A user who downloaded e.g. <c>deraining.pth</c> only names the preset.
/// </summary>
/// <param name="Name">Preset name, e.g. <c>restormer-deraining</c>.</param>
/// <param name="Arch">The <see cref="ModelFactory"/> architecture.</param>
/// <param name="ConfigJson">The official constructor arguments, by their official names.</param>
/// <param name="ContainerKey">The key of the state_dict inside the checkpoint (<c>params</c>, <c>state_dict</c>).</param>
/// <param name="FileName">The official file name (path inside the official repository's release).</param>
/// <param name="ParamCount">Parameters of the built network (distinct tensors), for a quick sanity check.</param>
/// <param name="Padding">The padding the official test scripts apply (to the architecture's size multiple).</param>
/// <param name="Description">Task and training data.</param>
public sealed record Preset(string Name, string Arch, string ConfigJson, string ContainerKey, string FileName, long ParamCount, PadMode Padding, string Description)
{
    /// <summary>Builds the network with fresh weights (load <see cref="FileName"/> next).</summary>
    public (nn.Module<Tensor, Tensor> Model, ArchInfo Info) Create()
    {
        var (model, info) = ModelFactory.Create(Arch, ConfigJson);
        return (model, info with { PadMode = Padding, ContainerKey = ContainerKey });
    }
}

/// <summary>Named presets for every official release checkpoint in backbones.md (§1.3, §2.4, §3.3).</summary>
public static class Presets
{
    // Official Restormer configurations (every release uses dim 48, [4,6,6,8], 4 refinement, heads [1,2,4,8], 2.66, no bias).
    private const string RestormerWithBias = """{"inp_channels": 3, "out_channels": 3, "dim": 48, "num_blocks": [4, 6, 6, 8], "num_refinement_blocks": 4, "heads": [1, 2, 4, 8], "ffn_expansion_factor": 2.66, "bias": false, "LayerNorm_type": "WithBias", "dual_pixel_task": false}""";
    private const string RestormerDualPixel = """{"inp_channels": 6, "out_channels": 3, "dim": 48, "num_blocks": [4, 6, 6, 8], "num_refinement_blocks": 4, "heads": [1, 2, 4, 8], "ffn_expansion_factor": 2.66, "bias": false, "LayerNorm_type": "WithBias", "dual_pixel_task": true}""";
    private const string RestormerBiasFree = """{"inp_channels": 3, "out_channels": 3, "dim": 48, "num_blocks": [4, 6, 6, 8], "num_refinement_blocks": 4, "heads": [1, 2, 4, 8], "ffn_expansion_factor": 2.66, "bias": false, "LayerNorm_type": "BiasFree", "dual_pixel_task": false}""";
    private const string RestormerGray = """{"inp_channels": 1, "out_channels": 1, "dim": 48, "num_blocks": [4, 6, 6, 8], "num_refinement_blocks": 4, "heads": [1, 2, 4, 8], "ffn_expansion_factor": 2.66, "bias": false, "LayerNorm_type": "BiasFree", "dual_pixel_task": false}""";

    // Official NAFNet configurations; GoPro/REDS are tested with NAFNetLocal (TLC, train size 256).
    private const string NafnetGoPro32 = """{"img_channel": 3, "width": 32, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1, 28], "dec_blk_nums": [1, 1, 1, 1], "tlc": true, "tlc_train_size": 256}""";
    private const string NafnetGoPro64 = """{"img_channel": 3, "width": 64, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1, 28], "dec_blk_nums": [1, 1, 1, 1], "tlc": true, "tlc_train_size": 256}""";
    private const string NafnetSidd32 = """{"img_channel": 3, "width": 32, "middle_blk_num": 12, "enc_blk_nums": [2, 2, 4, 8], "dec_blk_nums": [2, 2, 2, 2]}""";
    private const string NafnetSidd64 = """{"img_channel": 3, "width": 64, "middle_blk_num": 12, "enc_blk_nums": [2, 2, 4, 8], "dec_blk_nums": [2, 2, 2, 2]}""";

    // Official MPRNet configurations: the defaults of each task's MPRNet.py (n_feat/scale_unetfeats/scale_orsnetfeats differ).
    private const string MprnetDeblurring = """{"in_c": 3, "out_c": 3, "n_feat": 96, "scale_unetfeats": 48, "scale_orsnetfeats": 32, "num_cab": 8, "kernel_size": 3, "reduction": 4, "bias": false}""";
    private const string MprnetDenoising = """{"in_c": 3, "out_c": 3, "n_feat": 80, "scale_unetfeats": 48, "scale_orsnetfeats": 32, "num_cab": 8, "kernel_size": 3, "reduction": 4, "bias": false}""";
    private const string MprnetDeraining = """{"in_c": 3, "out_c": 3, "n_feat": 40, "scale_unetfeats": 20, "scale_orsnetfeats": 16, "num_cab": 8, "kernel_size": 3, "reduction": 4, "bias": false}""";

    private const string Rd = "Motion_Deblurring/pretrained_models/", Rr = "Deraining/pretrained_models/",
        Rf = "Defocus_Deblurring/pretrained_models/", Rn = "Denoising/pretrained_models/", Np = "experiments/pretrained_models/";

    private static readonly Preset[] All_ =
    [
        // Restormer (backbones.md §1.3): container 'params'; the scripts reflect-pad to /8 (when needed).
        new("restormer-motion-deblurring", "restormer", RestormerWithBias, "params", Rd + "motion_deblurring.pth", 26_126_644, PadMode.Reflect, "Restormer motion deblurring (GoPro; tested on GoPro, HIDE, RealBlur-J/R)"),
        new("restormer-deraining", "restormer", RestormerWithBias, "params", Rr + "deraining.pth", 26_126_644, PadMode.Reflect, "Restormer deraining (Rain13K; tested on Rain100L/H, Test100/1200/2800)"),
        new("restormer-single-image-defocus", "restormer", RestormerWithBias, "params", Rf + "single_image_defocus_deblurring.pth", 26_126_644, PadMode.Reflect, "Restormer single-image defocus deblurring (DPDD, 8-bit)"),
        new("restormer-dual-pixel-defocus", "restormer", RestormerDualPixel, "params", Rf + "dual_pixel_defocus_deblurring.pth", 26_132_548, PadMode.Reflect, "Restormer dual-pixel defocus deblurring (DPDD, 16-bit [L,R] pairs, 6 input channels)"),
        new("restormer-real-denoising", "restormer", RestormerBiasFree, "params", Rn + "real_denoising.pth", 26_111_668, PadMode.Reflect, "Restormer real denoising (SIDD; also used for DND)"),
        new("restormer-denoise-color-blind", "restormer", RestormerBiasFree, "params", Rn + "gaussian_color_denoising_blind.pth", 26_111_668, PadMode.Reflect, "Restormer Gaussian colour denoising, blind (sigma in [0,50])"),
        new("restormer-denoise-color-sigma15", "restormer", RestormerBiasFree, "params", Rn + "gaussian_color_denoising_sigma15.pth", 26_111_668, PadMode.Reflect, "Restormer Gaussian colour denoising, sigma 15"),
        new("restormer-denoise-color-sigma25", "restormer", RestormerBiasFree, "params", Rn + "gaussian_color_denoising_sigma25.pth", 26_111_668, PadMode.Reflect, "Restormer Gaussian colour denoising, sigma 25"),
        new("restormer-denoise-color-sigma50", "restormer", RestormerBiasFree, "params", Rn + "gaussian_color_denoising_sigma50.pth", 26_111_668, PadMode.Reflect, "Restormer Gaussian colour denoising, sigma 50"),
        new("restormer-denoise-gray-blind", "restormer", RestormerGray, "params", Rn + "gaussian_gray_denoising_blind.pth", 26_109_076, PadMode.Reflect, "Restormer Gaussian greyscale denoising, blind (sigma in [0,50]); 1-channel input"),
        new("restormer-denoise-gray-sigma15", "restormer", RestormerGray, "params", Rn + "gaussian_gray_denoising_sigma15.pth", 26_109_076, PadMode.Reflect, "Restormer Gaussian greyscale denoising, sigma 15; 1-channel input"),
        new("restormer-denoise-gray-sigma25", "restormer", RestormerGray, "params", Rn + "gaussian_gray_denoising_sigma25.pth", 26_109_076, PadMode.Reflect, "Restormer Gaussian greyscale denoising, sigma 25; 1-channel input"),
        new("restormer-denoise-gray-sigma50", "restormer", RestormerGray, "params", Rn + "gaussian_gray_denoising_sigma50.pth", 26_109_076, PadMode.Reflect, "Restormer Gaussian greyscale denoising, sigma 50; 1-channel input"),

        // NAFNet (backbones.md §2.4): container 'params'; the model zero-pads to /16 itself.
        new("nafnet-gopro-width32", "nafnet", NafnetGoPro32, "params", Np + "NAFNet-GoPro-width32.pth", 17_111_907, PadMode.Zero, "NAFNet motion deblurring (GoPro), width 32, TLC"),
        new("nafnet-gopro-width64", "nafnet", NafnetGoPro64, "params", Np + "NAFNet-GoPro-width64.pth", 67_888_835, PadMode.Zero, "NAFNet motion deblurring (GoPro), width 64, TLC"),
        new("nafnet-reds-width64", "nafnet", NafnetGoPro64, "params", Np + "NAFNet-REDS-width64.pth", 67_888_835, PadMode.Zero, "NAFNet deblurring + JPEG artefact removal (REDS), width 64, TLC"),
        new("nafnet-sidd-width32", "nafnet", NafnetSidd32, "params", Np + "NAFNet-SIDD-width32.pth", 29_159_715, PadMode.Zero, "NAFNet real denoising (SIDD), width 32"),
        new("nafnet-sidd-width64", "nafnet", NafnetSidd64, "params", Np + "NAFNet-SIDD-width64.pth", 115_982_915, PadMode.Zero, "NAFNet real denoising (SIDD), width 64"),

        // MPRNet (backbones.md §3.3): container 'state_dict' (keys may carry DataParallel's 'module.'); the demo reflect-pads to /8.
        new("mprnet-deblurring", "mprnet", MprnetDeblurring, "state_dict", "Deblurring/pretrained_models/model_deblurring.pth", 20_127_073, PadMode.Reflect, "MPRNet motion deblurring (GoPro; tested on GoPro, HIDE, RealBlur-J/R)"),
        new("mprnet-denoising", "mprnet", MprnetDenoising, "state_dict", "Denoising/pretrained_models/model_denoising.pth", 15_741_025, PadMode.Reflect, "MPRNet real denoising (SIDD; also used for DND)"),
        new("mprnet-deraining", "mprnet", MprnetDeraining, "state_dict", "Deraining/pretrained_models/model_deraining.pth", 3_637_249, PadMode.Reflect, "MPRNet deraining (Rain13K; tested on Rain100L/H, Test100/1200/2800)"),

        // DA-RCOT (darcot.md §1.2, §5.2): MRCNet(decoder=True) with the default config; the file is a pickled dict whose
        // "Tnet" is the whole module (read without running the pickle). The name is the one the official trainer writes
        // for the README's five-degradation run (derain, dehaze, denoise σ25, deblur, low light; patch 128, 55 epochs,
        // sigma 1). The official tester crops to /8; DaRcotNet pads (replicate) to /8 and crops back instead.
        new("darcot-all-in-one", "darcot", "{}", "Tnet", "checkpoint/model_allMRCNet128__55_1.0.pth", 52_336_698, PadMode.Replicate, "DA-RCOT all-in-one restoration (rain, haze, noise, blur, low light)"),
    ];

    /// <summary>Every preset, in table order.</summary>
    public static IReadOnlyList<Preset> All => All_;

    /// <summary>Finds a preset by name (case-insensitive).</summary>
    public static bool TryGet(string name, [NotNullWhen(true)] out Preset? preset)
    {
        ArgumentNullException.ThrowIfNull(name);
        preset = All_.FirstOrDefault(p => string.Equals(p.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));
        return preset is not null;
    }

    /// <summary>The preset named <paramref name="name"/>.</summary>
    /// <exception cref="ModelConfigException">Unknown name; the message lists the known presets.</exception>
    public static Preset Get(string name) =>
        TryGet(name, out var preset)
            ? preset
            : throw new ModelConfigException("preset", $"unknown preset '{name}'; known: {string.Join(", ", All_.Select(p => p.Name))}.");
}
