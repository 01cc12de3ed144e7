using System.Diagnostics;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Tests.Checkpoints;

/// <summary>Weights and tensor files that are links to devices or FIFOs are refused by type, never opened.</summary>
public sealed class NonRegularCheckpointFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-nonregular-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_pth_link_to_dev_zero_is_a_character_device_not_an_empty_file()
    {
        var link = Path.Combine(_dir, "weights.pth");
        File.CreateSymbolicLink(link, "/dev/zero");
        var ex = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(link));
        Assert.Contains("character device", ex.Message);
        Assert.DoesNotContain("empty", ex.Message);
    }

    [Fact]
    public async Task A_safetensors_fifo_is_refused_without_blocking()
    {
        var fifo = Path.Combine(_dir, "input.safetensors");
        using (var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [fifo]) { UseShellExecute = false })!)
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        var read = Task.Run(() => Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Read(fifo)));
        var ex = await read.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("FIFO", ex.Message);
    }
}
