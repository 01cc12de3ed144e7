namespace DaRcot.Rec.Errors;

/// <summary>Another live process holds the lock of a training output folder (see <c>Training.RunFolderLock</c>).</summary>
public sealed class RunFolderLockedException : DaRcotException
{
    /// <summary>The locked folder.</summary>
    public string Folder { get; }

    /// <summary>The process holding it.</summary>
    public int ProcessId { get; }

    /// <summary>Creates the exception.</summary>
    public RunFolderLockedException(string folder, int processId, string holder, string lockFile)
        : base($"'{folder}' is in use by {holder}; two runs in one folder would overwrite each other's checkpoints. " +
               $"Wait for it to finish or choose another output folder (if that process is gone, delete '{lockFile}').")
    {
        Folder = folder;
        ProcessId = processId;
    }
}
