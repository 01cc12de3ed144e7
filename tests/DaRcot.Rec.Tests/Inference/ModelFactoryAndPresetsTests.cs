using DaRcot.Rec.Backbones;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Models;
using TorchSharp;

namespace DaRcot.Rec.Tests.Inference;

public class ModelFactoryAndPresetsTests
{
    [Fact]
    public void Unknown_arch_lists_the_known_ones_and_configs_default_to_official_values()
    {
        var e = Assert.Throws<ModelConfigException>(() => ModelFactory.Create("unet", null));
        Assert.Equal("arch", e.Field);
        Assert.Contains("restormer", e.Message);
        Assert.Contains("nafnet", e.Message);

        var (model, info) = ModelFactory.Create("NAFNet", """{"width": 8, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}""");
        using var _ = model;
        Assert.IsType<NAFNet>(model);
        Assert.Equal(("nafnet", 4, PadMode.Zero, "params"), (info.Arch, info.SizeMultiple, info.PadMode, info.ContainerKey));
        Assert.Equal(3, ((NAFNetConfig)info.Config).ImgChannel);
        Assert.Equal("enc_blk_nums", Assert.Throws<ModelConfigException>(() => ModelFactory.Create("nafnet", """{"enc_blk_nums": 4}""")).Field);
    }

    // Every release checkpoint of backbones.md §1.3 and §2.4, with the table's in/out channels, layer norm,
    // dual-pixel flag, parameter count (NAFNet: width, blocks, TLC).
    public static TheoryData<string, int, int, string, bool, long> RestormerTable => new()
    {
        { "restormer-motion-deblurring", 3, 3, "WithBias", false, 26_126_644 },
        { "restormer-deraining", 3, 3, "WithBias", false, 26_126_644 },
        { "restormer-single-image-defocus", 3, 3, "WithBias", false, 26_126_644 },
        { "restormer-dual-pixel-defocus", 6, 3, "WithBias", true, 26_132_548 },
        { "restormer-real-denoising", 3, 3, "BiasFree", false, 26_111_668 },
        { "restormer-denoise-color-blind", 3, 3, "BiasFree", false, 26_111_668 },
        { "restormer-denoise-color-sigma15", 3, 3, "BiasFree", false, 26_111_668 },
        { "restormer-denoise-color-sigma25", 3, 3, "BiasFree", false, 26_111_668 },
        { "restormer-denoise-color-sigma50", 3, 3, "BiasFree", false, 26_111_668 },
        { "restormer-denoise-gray-blind", 1, 1, "BiasFree", false, 26_109_076 },
        { "restormer-denoise-gray-sigma15", 1, 1, "BiasFree", false, 26_109_076 },
        { "restormer-denoise-gray-sigma25", 1, 1, "BiasFree", false, 26_109_076 },
        { "restormer-denoise-gray-sigma50", 1, 1, "BiasFree", false, 26_109_076 },
    };

    [Theory]
    [MemberData(nameof(RestormerTable))]
    public void Restormer_presets_match_the_release_table(string name, int inCh, int outCh, string ln, bool dual, long paramCount)
    {
        var p = Presets.Get(name);
        var c = ModelFactory.ParseConfig<RestormerConfig>(p.ConfigJson);
        c.Validate();
        Assert.Equal(("restormer", "params", PadMode.Reflect, paramCount), (p.Arch, p.ContainerKey, p.Padding, p.ParamCount));
        Assert.Equal((inCh, outCh, ln, dual), (c.InpChannels, c.OutChannels, c.LayerNormTypeName, c.DualPixelTask));
        Assert.Equal((48, 4, 2.66, false), (c.Dim, c.NumRefinementBlocks, c.FfnExpansionFactor, c.Bias));
        Assert.Equal(new[] { 4, 6, 6, 8 }, c.NumBlocks);
        Assert.Equal(new[] { 1, 2, 4, 8 }, c.Heads);
        Assert.EndsWith(".pth", p.FileName);
    }

    public static TheoryData<string, int, int, bool, long> NafnetTable => new()
    {
        { "nafnet-gopro-width32", 32, 1, true, 17_111_907 },
        { "nafnet-gopro-width64", 64, 1, true, 67_888_835 },
        { "nafnet-reds-width64", 64, 1, true, 67_888_835 },
        { "nafnet-sidd-width32", 32, 12, false, 29_159_715 },
        { "nafnet-sidd-width64", 64, 12, false, 115_982_915 },
    };

    [Theory]
    [MemberData(nameof(NafnetTable))]
    public void Nafnet_presets_match_the_release_table(string name, int width, int middle, bool tlc, long paramCount)
    {
        var p = Presets.Get(name);
        var c = ModelFactory.ParseConfig<NAFNetConfig>(p.ConfigJson);
        c.Validate();
        Assert.Equal(("nafnet", "params", PadMode.Zero, paramCount), (p.Arch, p.ContainerKey, p.Padding, p.ParamCount));
        Assert.Equal((3, width, middle, tlc, 256), (c.ImgChannel, c.Width, c.MiddleBlkNum, c.Tlc, c.TlcTrainSize));
        Assert.Equal(tlc ? new[] { 1, 1, 1, 28 } : new[] { 2, 2, 4, 8 }, c.EncBlkNums);
        Assert.Equal(tlc ? new[] { 1, 1, 1, 1 } : new[] { 2, 2, 2, 2 }, c.DecBlkNums);
    }

    [Theory]
    [InlineData("restormer-denoise-gray-sigma25")] // 26,109,076: the grey count is not checked anywhere else
    [InlineData("nafnet-sidd-width32")]            // 29,159,715: the SIDD layout is not checked anywhere else
    public void One_preset_per_family_builds_with_the_documented_parameter_count(string name)
    {
        var preset = Presets.Get(name);
        var (model, info) = preset.Create();
        using var _ = model;
        Assert.Equal(preset.ParamCount, model.parameters().Sum(t => t.numel()));
        Assert.Equal(preset.Padding, info.PadMode);
        // backbones.md §1.4/§2.5: BiasFree Restormer 406 keys; NAFNet SIDD has 36 blocks like GoPro: 664 keys.
        Assert.Equal(name.StartsWith("nafnet", StringComparison.Ordinal) ? 664 : 406, model.state_dict().Count);
    }

    [Fact]
    public void Every_preset_has_a_unique_name_a_known_arch_and_unknown_names_are_refused()
    {
        var names = Presets.All.Select(p => p.Name).ToList();
        Assert.Equal(names.Count, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.All(Presets.All, p => Assert.Contains(p.Arch, ModelFactory.KnownArchs));
        Assert.True(Presets.TryGet("RESTORMER-DERAINING", out var derain));
        Assert.Equal("restormer-deraining", derain!.Name);
        var e = Assert.Throws<ModelConfigException>(() => Presets.Get("restormer-dehazing"));
        Assert.Contains("nafnet-gopro-width32", e.Message);
    }
}
