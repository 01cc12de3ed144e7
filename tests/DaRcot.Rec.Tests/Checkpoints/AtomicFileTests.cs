using DaRcot.Rec.Checkpoints;

namespace DaRcot.Rec.Tests.Checkpoints;

/// <summary>AtomicFile's error messages and its clean-up of temporary files left by killed processes.</summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-atomic-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void An_unwritable_target_is_named_in_the_error_not_the_hidden_temporary_file()
    {
        var notAFolder = Path.Combine(_dir, "file.txt");
        File.WriteAllText(notAFolder, "x");
        var target = Path.Combine(notAFolder, "report.md");
        var ex = Assert.Throws<IOException>(() => AtomicFile.Write(target, s => s.WriteByte(1)));
        Assert.Contains($"'{target}'", ex.Message);
        Assert.DoesNotContain(".tmp", ex.Message);
    }

    [Fact]
    public void Stale_temporary_files_are_recognised_by_name_and_deleted_and_nothing_else()
    {
        var stale = Path.Combine(_dir, $".checkpoint.darcot-train.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(stale, new byte[1000]);
        var keep = new[] { "checkpoint.darcot-train", ".hidden.tmp", "notes.tmp", $".x.{Guid.NewGuid():N}.tmp.bak" }
            .Select(n => Path.Combine(_dir, n)).ToArray();
        foreach (var k in keep) File.WriteAllText(k, "keep");

        Assert.Equal((1, 1000L), AtomicFile.DeleteStaleTemporaryFiles(_dir));
        Assert.False(File.Exists(stale));
        Assert.All(keep, k => Assert.True(File.Exists(k), k));
        Assert.Equal((0, 0L), AtomicFile.DeleteStaleTemporaryFiles(Path.Combine(_dir, "missing")));
    }
}
