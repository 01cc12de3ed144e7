using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DaRcot.Rec.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DaRcot.Rec.Training;

/// <summary>
/// An exclusive claim on a training output folder: the file <see cref="FileName"/> holding the owner's process id,
/// its start time and host. A second run on the same folder is refused while the owner lives; a lock whose process
/// has ended (killed, crashed, machine rebooted) is stale and taken over with a warning.
/// </summary>
/// <remarks>The lock file is created complete in one step (written under a private name, then linked into place,
/// which fails when the name exists), so a reader never sees a half-written lock.</remarks>
public sealed class RunFolderLock : IDisposable
{
    /// <summary>The lock file's name inside the folder.</summary>
    public const string FileName = "train.lock";

    private readonly string _token;
    private bool _released;

    private RunFolderLock(string path, string token)
    {
        Path = path;
        _token = token;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>Takes the lock of <paramref name="folder"/> (created when missing).</summary>
    /// <exception cref="RunFolderLockedException">A live process holds it.</exception>
    /// <exception cref="IOException">The folder cannot be written.</exception>
    public static RunFolderLock Acquire(string folder, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        logger ??= NullLogger.Instance;
        Directory.CreateDirectory(folder);
        var path = System.IO.Path.Combine(folder, FileName);
        using var self = Process.GetCurrentProcess();
        var owner = new Owner(Environment.ProcessId, self.StartTime.ToUniversalTime(), Environment.MachineName, Guid.NewGuid().ToString("N"));
        // A few attempts: each stale lock removed may race with another process doing the same.
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (TryCreate(path, owner)) return new RunFolderLock(path, owner.Token);
            var existing = Read(path);
            if (existing is null) continue; // removed meanwhile
            if (IsAlive(existing.Value)) throw new RunFolderLockedException(folder, existing.Value.Pid, Describe(existing.Value), path);
            logger.LogWarning("Removing the stale lock {Path}: {Owner} is no longer running.", path, Describe(existing.Value));
            try { File.Delete(path); } catch (IOException) { }
        }
        throw new IOException($"Cannot take the lock '{path}': it keeps changing (another process is starting in the same folder).");
    }

    /// <summary>Deletes the lock file (only if it is still this lock's).</summary>
    public void Dispose()
    {
        if (_released) return;
        _released = true;
        try
        {
            if (Read(Path) is { } owner && owner.Token == _token) File.Delete(Path);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Who holds a lock file: process id, its start time (UTC), host, and a token unique to the claim.</summary>
    private readonly record struct Owner(int Pid, DateTime Started, string Host, string Token);

    private static bool TryCreate(string path, Owner owner)
    {
        var temp = path + "." + owner.Token + ".new";
        File.WriteAllText(temp, JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["pid"] = owner.Pid.ToString(CultureInfo.InvariantCulture),
            ["started_utc"] = owner.Started.ToString("O", CultureInfo.InvariantCulture),
            ["host"] = owner.Host,
            ["token"] = owner.Token,
        }));
        try
        {
            // Without overwrite the runtime links the new name and fails when it exists: an atomic create-if-absent.
            File.Move(temp, path, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temp);
            return false;
        }
    }

    private static Owner? Read(string path)
    {
        try
        {
            var fields = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path));
            if (fields is null) return new Owner(0, default, "", "");
            return new Owner(
                int.TryParse(fields.GetValueOrDefault("pid"), CultureInfo.InvariantCulture, out var pid) ? pid : 0,
                DateTime.TryParse(fields.GetValueOrDefault("started_utc"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var started) ? started : default,
                fields.GetValueOrDefault("host") ?? "",
                fields.GetValueOrDefault("token") ?? "");
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        // An unreadable or foreign file holds no live owner: treated as stale.
        catch (JsonException) { return new Owner(0, default, "", ""); }
    }

    private static bool IsAlive(Owner owner)
    {
        if (owner.Pid <= 0) return false;
        // Another machine's process cannot be checked from here: assume it lives (shared file systems).
        if (!string.Equals(owner.Host, Environment.MachineName, StringComparison.Ordinal)) return true;
        try
        {
            using var process = Process.GetProcessById(owner.Pid);
            if (process.HasExited) return false;
            // Process ids are reused: the same id with another start time is another process.
            return owner.Started == default || Math.Abs((process.StartTime.ToUniversalTime() - owner.Started).TotalSeconds) < 2;
        }
        catch (ArgumentException) { return false; }          // no such process
        catch (InvalidOperationException) { return false; }   // it exited meanwhile
        catch (System.ComponentModel.Win32Exception) { return true; } // not ours to inspect: assume it lives
    }

    private static string Describe(Owner owner) =>
        owner.Pid <= 0 ? "an unreadable lock" : $"darcot train PID {owner.Pid} on {owner.Host}, started {owner.Started:u}";
}
