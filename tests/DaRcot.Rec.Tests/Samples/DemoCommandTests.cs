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
        // The bundled model is a denoiser: σ = 25 on this crop was measured at 20.30 dB → 29.77 dB (MODEL_CARD); it
        // must keep a clear gain. The row reads "denoise_25 | 20.30 dB / 0.402 | 29.77 dB / 0.813 | +9.47 dB".
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
