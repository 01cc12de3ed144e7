using DaRcot.Rec.Errors;
using DaRcot.Rec.Inference.Sharding;

namespace DaRcot.Rec.Tests.Sharding;

/// <summary>Manifest files: comments, relative and absolute paths, and the output names they give.</summary>
public sealed class InputManifestTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-manifest-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Manifest(params string[] lines)
    {
        var path = Path.Combine(_dir, "data", "manifest.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Comments_and_blank_lines_are_ignored_and_paths_are_relative_to_the_manifests_folder()
    {
        var data = Path.Combine(_dir, "data");
        var manifest = Manifest("# inputs", "", "  a/x.png  ", "b/x.jpg", "./c/../top.bmp", Path.Combine(data, "abs", "y.png"), "   # indented comment");
        var entries = InputManifest.Read(manifest);
        Assert.Equal(["a/x.png", "b/x.jpg", "top.bmp", "abs/y.png"], entries.Select(e => e.Key));
        Assert.Equal([3, 4, 5, 6], entries.Select(e => e.Line));
        Assert.Equal(Path.Combine(data, "a", "x.png"), entries[0].Path);

        // Same file name in two folders: the relative structure keeps them apart.
        var jobs = ShardJob.ForManifest(entries, "/out");
        Assert.Equal(["/out/a/x.png", "/out/b/x.png", "/out/top.png", "/out/abs/y.png"], jobs.Select(j => j.Output));
    }

    [Fact]
    public void Inputs_outside_the_folder_duplicates_and_empty_manifests_are_refused_naming_the_line()
    {
        var outside = Assert.Throws<ShardingException>(() => InputManifest.Read(Manifest("a.png", "../elsewhere/b.png"))).Message;
        Assert.Contains("line 2", outside);
        Assert.Contains("'../elsewhere/b.png' is not inside the manifest's folder", outside);
        Assert.Contains("line 2", Assert.Throws<ShardingException>(() => InputManifest.Read(Manifest("a.png", "/etc/b.png"))).Message);
        Assert.Contains("line 3: 'x/../a.png' is already listed on line 1", Assert.Throws<ShardingException>(() => InputManifest.Read(Manifest("a.png", "b.png", "x/../a.png"))).Message);
        Assert.Contains("lists no inputs", Assert.Throws<ShardingException>(() => InputManifest.Read(Manifest("# nothing", ""))).Message);
        Assert.Throws<IOException>(() => InputManifest.Read(Path.Combine(_dir, "missing.txt")));
    }

    [Fact]
    public void Two_inputs_that_would_share_an_output_are_refused()
    {
        var entries = InputManifest.Read(Manifest("a/x.png", "a/x.jpg"));
        var message = Assert.Throws<ShardingException>(() => ShardJob.ForManifest(entries, "/out")).Message;
        Assert.Contains("'a/x.png' and 'a/x.jpg' would both be written to '/out/a/x.png'", message);
    }
}
