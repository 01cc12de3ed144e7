using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using DaRcot.Rec.Errors;
using TorchSharp;

namespace DaRcot.Rec.Checkpoints.Pickle;

/// <summary>
/// A PyTorch checkpoint opened for reading: the unpickled object graph (<see cref="Root"/>, inert records only) plus
/// access to the raw storages, which are read only when a tensor is materialised and then read once each.
/// Handles the zip format (torch ≥ 1.6: <c>archive/data.pkl</c> + <c>archive/data/&lt;key&gt;</c>) and the legacy
/// format (a sequence of pickles followed by the raw storages), and bare pickles (no tensors).
/// </summary>
internal sealed class TorchPickleFile : IDisposable
{
    private static readonly byte[] LegacyMagicPrefix = { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19 };

    private readonly string _path;
    private readonly ZipArchive? _zip;
    private readonly FileStream? _zipStream;
    private readonly string _zipPrefix = "";
    private readonly bool _bigEndian;
    private readonly byte[]? _legacyData;
    private readonly Dictionary<string, (long Offset, long Numel)> _legacyStorages = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StorageRef> _storages = new(StringComparer.Ordinal);
    private readonly Dictionary<string, torch.Tensor> _storageTensors = new(StringComparer.Ordinal);

    public object? Root { get; }

    public CheckpointFormat Format { get; }

    private TorchPickleFile(string path, CheckpointFormat format)
    {
        _path = path;
        Format = format;
        if (format == CheckpointFormat.PyTorchZip)
        {
            try
            {
                _zipStream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
                _zip = new ZipArchive(_zipStream, ZipArchiveMode.Read);
            }
            catch (InvalidDataException e)
            {
                _zipStream?.Dispose();
                throw new CheckpointFormatException(path, $"the zip archive is truncated or corrupt ({e.Message})", e);
            }
            var pkl = _zip.Entries.FirstOrDefault(e => e.FullName == "data.pkl" || e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
            if (pkl is null)
            {
                Dispose();
                throw new CheckpointFormatException(path, "the zip archive has no data.pkl record, so it is not a PyTorch checkpoint");
            }
            _zipPrefix = pkl.FullName[..^"data.pkl".Length];
            var byteorder = _zip.GetEntry(_zipPrefix + "byteorder");
            if (byteorder is not null) _bigEndian = ReadEntry(byteorder).AsSpan().SequenceEqual("big"u8);
            try
            {
                var bytes = ReadEntry(pkl);
                Root = new PickleMachine(bytes, 0, path, PersistentLoadZip).Load();
            }
            catch
            {
                Dispose(); // release the file handle: the caller never receives this object
                throw;
            }
        }
        else
        {
            _legacyData = File.ReadAllBytes(path);
            if (format == CheckpointFormat.PyTorchLegacy)
                Root = LoadLegacy(_legacyData);
            else
                Root = new PickleMachine(_legacyData, 0, path, pid =>
                    throw new CheckpointFormatException(path, "a bare pickle cannot reference tensor storages")).Load();
        }
    }

    /// <summary>Whether the file begins like a legacy (pre-1.6) torch.save file.</summary>
    public static bool IsLegacy(ReadOnlySpan<byte> head) => head.StartsWith(LegacyMagicPrefix);

    public static TorchPickleFile Open(string path, CheckpointFormat format) => new(path, format);

    private byte[] ReadEntry(ZipArchiveEntry entry)
    {
        try
        {
            if (entry.Length > int.MaxValue) throw new CheckpointFormatException(_path, $"record '{entry.FullName}' is larger than 2 GB");
            // The size comes from the archive's directory; a pickle beyond 1 GB is a corrupt or hostile file, not a checkpoint.
            if (entry.FullName.EndsWith("data.pkl", StringComparison.Ordinal) && entry.Length > (1L << 30))
                throw new CheckpointFormatException(_path, $"record '{entry.FullName}' declares {entry.Length} bytes, too large for a checkpoint pickle");
            var buffer = new byte[entry.Length];
            using var s = entry.Open();
            s.ReadExactly(buffer);
            return buffer;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new CheckpointFormatException(_path, $"record '{entry.FullName}' cannot be read (truncated or corrupt archive: {e.Message})", e);
        }
    }

    // Persistent ids of the zip format: ('storage', storage_type, key, location, numel).
    private object? PersistentLoadZip(object? pid)
    {
        var t = pid as PickleTuple;
        if (t is null || t.Count < 5 || t[0] as string != "storage")
            throw new CheckpointFormatException(_path, $"unsupported persistent id ({PickleMachine.Describe(pid)})");
        var key = t[2] as string ?? throw new CheckpointFormatException(_path, "persistent id without a storage key");
        if (_storages.TryGetValue(key, out var known)) return known;
        var storage = new StorageRef(key, StorageDType(t[1]), t[3] as string ?? "cpu", t[4] is long n ? n : -1);
        _storages[key] = storage;
        return storage;
    }

    private torch.ScalarType StorageDType(object? type)
    {
        if (type is PickleGlobal { Kind: GlobalKind.StorageType } g && PickleAllowList.StorageTypes.TryGetValue(g.Name, out var dt)) return dt;
        throw new CheckpointFormatException(_path, $"unknown storage type {PickleMachine.Describe(type)}");
    }

    // Legacy layout: magic, protocol version, sys_info, the object, the sorted storage keys, then per key
    // an int64 element count followed by the raw elements.
    private object? LoadLegacy(byte[] data)
    {
        int pos = 0;
        object? Next(Func<object?, object?> pl)
        {
            var vm = new PickleMachine(data, pos, _path, pl);
            var v = vm.Load();
            pos = vm.Position;
            return v;
        }
        object? NoPid(object? _) => throw new CheckpointFormatException(_path, "unexpected persistent id in the legacy header");

        var magic = Next(NoPid);
        if (magic is not BigInteger m || m != BigInteger.Parse("119547037146038801333356"))
            throw new CheckpointFormatException(_path, "legacy PyTorch magic number mismatch");
        var protocol = Next(NoPid);
        if (protocol is not long p || p != 1001) throw new CheckpointFormatException(_path, $"unsupported legacy protocol version {protocol}");
        if (Next(NoPid) is PickleDict sysInfo && sysInfo.GetOrNull("little_endian") is false)
            throw new CheckpointFormatException(_path, "big-endian legacy checkpoints are not supported");
        var root = Next(PersistentLoadLegacy);
        var keys = Next(NoPid) as List<object?> ?? throw new CheckpointFormatException(_path, "legacy storage key list missing");
        foreach (var k in keys)
        {
            var key = k as string ?? throw new CheckpointFormatException(_path, "legacy storage key is not a string");
            if (data.Length - pos < 8) throw new CheckpointFormatException(_path, $"storage '{key}' is missing (file truncated?)");
            long numel = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(pos, 8));
            pos += 8;
            long elem = _storages.TryGetValue(key, out var sr) ? ElementSize(sr.DType) : 1;
            if (numel < 0 || numel * elem > data.Length - pos)
                throw new CheckpointFormatException(_path, $"storage '{key}' is truncated ({numel} elements declared)");
            _legacyStorages[key] = (pos, numel);
            pos += checked((int)(numel * elem));
        }
        return root;
    }

    // Legacy persistent ids: ('storage', storage_type, root_key, location, size, view_metadata).
    private object? PersistentLoadLegacy(object? pid)
    {
        var t = pid as PickleTuple;
        if (t is null || t.Count < 5 || t[0] as string != "storage")
            throw new CheckpointFormatException(_path, $"unsupported legacy persistent id ({PickleMachine.Describe(pid)})");
        var key = t[2] as string ?? throw new CheckpointFormatException(_path, "persistent id without a storage key");
        var dtype = StorageDType(t[1]);
        if (!_storages.ContainsKey(key)) _storages[key] = new StorageRef(key, dtype, t[3] as string ?? "cpu", t[4] is long n ? n : -1);
        if (t.Count > 5 && t[5] is PickleTuple view && view.Count >= 3)
            return new StorageRef(key, dtype, t[3] as string ?? "cpu", view[2] is long vn ? vn : -1) { ViewOffset = view[1] is long o ? o : 0 };
        return _storages[key];
    }

    /// <summary>
    /// A CPU tensor holding the data <paramref name="stub"/> describes. Row-major (contiguous) tensors are views of
    /// the storage (no copy, like torch.load); other layouts are copied into a fresh contiguous tensor.
    /// </summary>
    public torch.Tensor Materialize(TensorStub stub)
    {
        var storage = StorageTensor(stub.Storage);
        long start = stub.Storage.ViewOffset + stub.Offset;
        long last = start;
        bool empty = false;
        for (int i = 0; i < stub.Size.Length; i++)
        {
            if (stub.Size[i] < 0 || stub.Stride[i] < 0) throw new CheckpointFormatException(_path, "tensor with a negative size or stride");
            if (stub.Size[i] == 0) empty = true;
            else last += (stub.Size[i] - 1) * stub.Stride[i];
        }
        if (empty) return torch.empty(stub.Size, stub.DType);
        if (start < 0 || last >= storage.shape[0])
            throw new CheckpointFormatException(_path, $"a tensor of shape [{string.Join(", ", stub.Size)}] reaches past the end of storage '{stub.Storage.Key}' ({storage.shape[0]} elements)");
        if (IsRowMajor(stub.Size, stub.Stride)) return storage.as_strided(stub.Size, stub.Stride, start);
        var result = torch.empty(stub.Size, stub.DType);
        using var view = storage.as_strided(stub.Size, stub.Stride, start);
        using (torch.no_grad()) result.copy_(view);
        return result;
    }

    private static bool IsRowMajor(long[] size, long[] stride)
    {
        long expected = 1;
        for (int i = size.Length - 1; i >= 0; i--)
        {
            if (size[i] != 1 && stride[i] != expected) return false;
            expected *= size[i];
        }
        return true;
    }

    private torch.Tensor StorageTensor(StorageRef storage)
    {
        if (_storageTensors.TryGetValue(storage.Key, out var cached)) return cached;
        int elem = ElementSize(storage.DType);
        torch.Tensor t;
        if (_zip is not null)
        {
            var entry = _zip.GetEntry($"{_zipPrefix}data/{storage.Key}")
                        ?? throw new CheckpointFormatException(_path, $"storage record 'data/{storage.Key}' is missing from the archive");
            if (entry.Length % elem != 0)
                throw new CheckpointFormatException(_path, $"storage '{storage.Key}' has {entry.Length} bytes, not a multiple of {elem}");
            if (entry.Length > int.MaxValue) throw new CheckpointFormatException(_path, $"storage '{storage.Key}' is larger than 2 GB");
            // Read straight into the tensor's memory: one copy from the file, none in between.
            t = torch.empty(new long[] { entry.Length / elem }, storage.DType);
            try
            {
                if (entry.Length > 0)
                {
                    using var s = entry.Open();
                    s.ReadExactly(t.bytes);
                }
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
            {
                t.Dispose();
                throw new CheckpointFormatException(_path, $"storage record 'data/{storage.Key}' cannot be read (truncated or corrupt archive: {e.Message})", e);
            }
            if (_bigEndian && elem > 1) SwapBytes(t, elem);
        }
        else
        {
            if (!_legacyStorages.TryGetValue(storage.Key, out var loc))
                throw new CheckpointFormatException(_path, $"storage '{storage.Key}' is missing from the file");
            var bytes = _legacyData.AsSpan((int)loc.Offset, checked((int)(loc.Numel * elem)));
            t = RawTensors.FromBytes(bytes, storage.DType, new long[] { loc.Numel });
        }
        _storageTensors[storage.Key] = t;
        return t;
    }

    private static void SwapBytes(torch.Tensor t, int elem)
    {
        var span = t.bytes;
        for (int i = 0; i < span.Length; i += elem) span.Slice(i, elem).Reverse();
    }

    internal static int ElementSize(torch.ScalarType dtype) => RawTensors.ElementSize(dtype);

    public void Dispose()
    {
        foreach (var t in _storageTensors.Values) t.Dispose();
        _storageTensors.Clear();
        _zip?.Dispose();
        _zipStream?.Dispose();
    }
}
