using System.Text.Json;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Cli;

/// <summary><c>--precision fp32|bf16</c> on the commands that run a network forward. In the console-capture collection.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class PrecisionOptionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-precision-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Restore_in_bf16_writes_an_image_within_two_8_bit_levels_of_the_fp32_one()
    {
        var input = Path.Combine(_dir, "in.png");
        using (var image = rand(1, 3, 40, 56, generator: new Generator(5))) ImageTensor.SavePng(image, input);
        var fp32 = Path.Combine(_dir, "fp32.png");
        var bf16 = Path.Combine(_dir, "bf16.png");
        var (code32, _, err32) = CliRun.Capture("restore", input, "-o", fp32);
        var (code16, _, err16) = CliRun.Capture("restore", input, "-o", bf16, "--precision", "bf16");
        Assert.True(code32 == 0, err32);
        Assert.True(code16 == 0, err16);
        using var a = ImageTensor.Load(fp32);
        using var b = ImageTensor.Load(bf16);
        Assert.Equal(a.shape, b.shape);
        using var diff = (a - b).abs().max();
        Assert.InRange(diff.item<float>() * 255, 0, 2.01);
    }

    [Theory]
    [InlineData("restore", "a.png -o b.png")]
    [InlineData("demo", "-o d.png")]
    [InlineData("bench", "--arch nafnet --size 16")]
    public void An_unknown_precision_is_one_line_naming_the_option(string command, string rest)
    {
        var (code, _, err) = CliRun.Capture([command, .. rest.Split(' '), "--precision", "fp16"]);
        Assert.Equal(1, code);
        Assert.Contains("--precision", err, StringComparison.Ordinal);
        Assert.Contains("'fp16' is not a precision; use fp32 or bf16", err, StringComparison.Ordinal);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void Bench_reports_the_precision_and_the_bf16_matmul_peak()
    {
        var (code, stdout, err) = CliRun.Capture("bench", "--arch", "nafnet", "--config", WriteTinyNafnet(), "--size", "32",
            "--iterations", "2", "--warmup", "1", "--json", "--precision", "bf16");
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("bf16", json.RootElement.GetProperty("precision").GetString());
        Assert.True(json.RootElement.GetProperty("peak_matmul_gflops_per_second").GetDouble() > 0);
    }

    private string WriteTinyNafnet()
    {
        var path = Path.Combine(_dir, "nafnet.json");
        File.WriteAllText(path, """{"width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1], "dec_blk_nums": [1, 1, 1]}""");
        return path;
    }
}
