using DaRcot.Rec.Imaging;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Samples;

/// <summary><c>darcot demo</c> in-process with the bundled model on the bundled held-out photo (256×256).</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class DemoCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-demo-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Prints_the_five_degradations_and_writes_the_grid()
    {
        var output = Path.Combine(_dir, "grid.png");
        var (code, stdout, err) = CliRun.Capture("demo", "-o", output);
        Assert.True(code == 0, err);
        foreach (var task in new[] { "denoise_25", "derain", "dehaze", "deblur", "lowlight" }) Assert.Contains(task, stdout, StringComparison.Ordinal);
        // σ = 25 on this crop was measured at 20.30 dB → 27.65 dB (MODEL_CARD); it must keep a clear gain. The row reads
        // "denoise_25 | 20.30 dB / 0.402 | 27.65 dB / 0.748 | +7.35 dB". Motion blur, which the bundled model does not
        // claim, says so in its row.
        Assert.Contains("deblur (not claimed)", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("dehaze (not claimed)", stdout, StringComparison.Ordinal);
        var row = stdout.Split('\n').Single(l => l.Contains("denoise_25", StringComparison.Ordinal) && l.Contains(" dB", StringComparison.Ordinal));
        Assert.Contains("20.30 dB", row, StringComparison.Ordinal);
        var gain = double.Parse(row.Split('+').Last().Split(" dB")[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(gain >= 5, row);
        // 5 rows of 256 with 4-pixel gaps, 3 columns.
        var header = ImageTensor.Identify(output);
        Assert.Equal((5 * 256 + 4 * 4, 3 * 256 + 2 * 4), (header.Height, header.Width));
    }

    [Fact]
    public void Weights_without_an_architecture_are_one_line()
    {
        var (code, _, err) = CliRun.Capture("demo", "-o", Path.Combine(_dir, "g.png"), "--weights", "x.pth");
        Assert.Equal(1, code);
        Assert.Equal("darcot demo: give --arch and --weights together (or neither, for the bundled model).", err.Trim());
    }
}
