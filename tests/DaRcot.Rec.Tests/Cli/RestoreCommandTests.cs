using DaRcot.Rec.Tests.Infrastructure;
using DaRcot.Cli;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Tests.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Cli;

/// <summary><c>darcot restore</c> in-process; captures the console, so it runs in the console-capture collection.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class RestoreCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-restore-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRun.Capture(args);

    private string WriteConfig(ParityCase c)
    {
        var path = Path.Combine(_dir, c.Name + ".config.json");
        File.WriteAllText(path, c.ConfigJson);
        return path;
    }

    [SkippableFact]
    public void Reproduces_the_official_restormer_output_from_safetensors_end_to_end()
    {
        var c = ParityCase.Load("restormer_tiny_withbias");
        var output = Path.Combine(_dir, "out.safetensors");
        var (code, _, err) = Run("restore", c.TensorsPath, "-o", output, "--arch", "restormer", "--config", WriteConfig(c), "--weights", c.WeightsPath);
        Assert.True(code == 0, err);
        var ours = SafetensorsFile.Read(output);
        var reference = SafetensorsFile.Read(c.TensorsPath);
        try
        {
            Assert.Equal(new[] { "output" }, ours.Keys.ToArray());
            Assert.Equal(reference["output"].shape, ours["output"].shape);
            var maxErr = (ours["output"] - reference["output"]).abs().max().item<float>();
            Assert.True(maxErr <= c.AbsTol, $"max error {maxErr} > {c.AbsTol}");
        }
        finally
        {
            foreach (var t in ours.Values.Concat(reference.Values)) t.Dispose();
        }
    }

    [SkippableFact]
    public void An_odd_sized_png_comes_back_as_a_png_of_the_same_size_also_in_folders()
    {
        var c = ParityCase.Load("restormer_tiny_biasfree");
        var config = WriteConfig(c);
        var inputDir = Directory.CreateDirectory(Path.Combine(_dir, "in")).FullName;
        var png = Path.Combine(inputDir, "odd.png");
        using (var image = rand(1, 3, 29, 37, generator: new Generator(21))) ImageTensor.SavePng(image, png);
        File.Copy(png, Path.Combine(inputDir, "second.png"));

        var outPng = Path.Combine(_dir, "restored.png");
        var (code, _, err) = Run("restore", png, "-o", outPng, "--arch", "restormer", "--config", config, "--weights", c.WeightsPath);
        Assert.True(code == 0, err);
        using (var restored = ImageTensor.Load(outPng)) Assert.Equal(new long[] { 1, 3, 29, 37 }, restored.shape);

        var outDir = Path.Combine(_dir, "out");
        (code, _, err) = Run("restore", inputDir, "-o", outDir, "--arch", "restormer", "--config", config, "--weights", c.WeightsPath, "--tile", "16", "--tile-overlap", "8");
        Assert.True(code == 0, err);
        Assert.Equal(new[] { "odd.png", "second.png" }, Directory.GetFiles(outDir).Select(Path.GetFileName).Order().ToArray());
        using var tiled = ImageTensor.Load(Path.Combine(outDir, "odd.png"));
        Assert.Equal(new long[] { 1, 3, 29, 37 }, tiled.shape);
    }

    [SkippableFact]
    public void Wrong_weights_bad_configs_and_bad_options_fail_with_one_line()
    {
        var restormer = ParityCase.Load("restormer_tiny_withbias");
        var nafnet = ParityCase.Load("nafnet_tiny");
        var output = Path.Combine(_dir, "x.safetensors");

        var (code, _, err) = Run("restore", restormer.TensorsPath, "-o", output, "--arch", "nafnet", "--config", WriteConfig(nafnet), "--weights", restormer.WeightsPath);
        Assert.NotEqual(0, code);
        Assert.Contains("does not match", err);
        Assert.Single(err.TrimEnd().Split('\n'));
        Assert.False(File.Exists(output));

        var badConfig = Path.Combine(_dir, "bad.json");
        File.WriteAllText(badConfig, """{"dim": 8, "heads": [1, 2, 4, 3]}""");
        (code, _, err) = Run("restore", restormer.TensorsPath, "-o", output, "--arch", "restormer", "--config", badConfig, "--weights", restormer.WeightsPath);
        Assert.NotEqual(0, code);
        Assert.Contains("heads", err);

        (code, _, err) = Run("restore", restormer.TensorsPath, "-o", output, "--arch", "restormer", "--weights", Path.Combine(_dir, "none.pth"));
        Assert.NotEqual(0, code);
        Assert.Contains("does not exist", err);

        (code, _, err) = Run("restore", restormer.TensorsPath, "-o", output, "--preset", "restormer-deraining", "--arch", "restormer", "--weights", restormer.WeightsPath);
        Assert.NotEqual(0, code);
        Assert.Contains("exactly one", err);

        (code, _, err) = Run("restore", restormer.TensorsPath, "-o", output, "--arch", "restormer", "--config", WriteConfig(restormer), "--weights", restormer.WeightsPath, "--device", "cuda");
        Assert.NotEqual(0, code);
        Assert.Contains("CUDA", err);

        (code, _, err) = Run("restore", restormer.TensorsPath, "-o", Path.Combine(_dir, "x.png"), "--arch", "restormer", "--config", WriteConfig(restormer), "--weights", restormer.WeightsPath);
        Assert.NotEqual(0, code);
        Assert.Contains(".safetensors", err);

        // The preset's full-size network does not fit the tiny weights.
        (code, _, err) = Run("restore", restormer.TensorsPath, "-o", output, "--preset", "restormer-deraining", "--weights", restormer.WeightsPath);
        Assert.NotEqual(0, code);
        Assert.Contains("shape mismatches", err);
    }
}
