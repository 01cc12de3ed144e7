using System.Diagnostics;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;

namespace DaRcot.Rec.Tests.Imaging;

/// <summary>Image files that decoders used to accept silently or that used to crash or hang the reader.</summary>
public sealed class HostileImageFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Temp(string name) => Path.Combine(_dir, name);

    [Fact]
    public void A_png_whose_data_holds_one_of_48_rows_is_refused_although_it_ends_with_IEND()
    {
        var path = Temp("short.png");
        File.WriteAllBytes(path, HostilePngFiles.Rgb8(48, 48, rowsWithData: 1));
        var ex = Assert.Throws<ImageDecodeException>(() => ImageTensor.Load(path));
        Assert.Contains("truncated", ex.Message);
        Assert.Contains("1 of 48 rows", ex.Message);

        // The same construction with every row present loads, all grey 128.
        File.WriteAllBytes(path, HostilePngFiles.Rgb8(48, 48, rowsWithData: 48));
        using var image = ImageTensor.Load(path);
        Assert.Equal(new long[] { 1, 3, 48, 48 }, image.shape);
        Assert.Equal(128 / 255f, image.min().item<float>());
        Assert.Equal(128 / 255f, image.max().item<float>());
    }

    [Fact]
    public void A_png_named_link_to_dev_zero_is_refused_as_a_device_at_once()
    {
        var link = Temp("zero.png");
        File.CreateSymbolicLink(link, "/dev/zero");
        var watch = Stopwatch.StartNew();
        var ex = Assert.Throws<ImageDecodeException>(() => ImageTensor.Load(link));
        Assert.Contains("character device", ex.Message);
        Assert.Contains("/dev/zero", ex.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task A_fifo_is_refused_as_a_fifo_not_as_an_empty_file_and_not_opened()
    {
        var fifo = Temp("pipe.png");
        using (var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [fifo]) { UseShellExecute = false })!)
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        // Opening a FIFO for reading blocks until a writer appears, so a wrong answer here would hang: bound it.
        var load = Task.Run(() => Assert.Throws<ImageDecodeException>(() => ImageTensor.Load(fifo)));
        var ex = await load.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("FIFO", ex.Message);
        Assert.DoesNotContain("empty", ex.Message);
    }

    [Fact]
    public void A_dangling_link_names_its_missing_target()
    {
        var link = Temp("gone.png");
        File.CreateSymbolicLink(link, Temp("never-written.png"));
        var ex = Assert.Throws<ImageDecodeException>(() => ImageTensor.Load(link));
        Assert.Contains("never-written.png", ex.Message);
        Assert.Contains("does not exist", ex.Message);
    }

    [Fact]
    public void Identify_reads_the_size_without_decoding_and_applies_the_same_checks()
    {
        var path = Temp("ok.png");
        File.WriteAllBytes(path, HostilePngFiles.Rgb8(40, 24, rowsWithData: 24));
        Assert.Equal(new ImageHeader(40, 24, 3), ImageTensor.Identify(path));
        File.WriteAllBytes(path, HostilePngFiles.Rgb8(40, 24, rowsWithData: 3));
        Assert.Throws<ImageDecodeException>(() => ImageTensor.Identify(path));
    }
}
