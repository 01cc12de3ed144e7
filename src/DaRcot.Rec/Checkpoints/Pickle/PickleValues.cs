using TorchSharp;

namespace DaRcot.Rec.Checkpoints.Pickle;

// The pickle VM never creates live Python-like objects: every value it produces is one of these inert records
// (or a plain .NET primitive: null, bool, long, BigInteger, double, string, byte[], List<object?>).

/// <summary>A Python tuple.</summary>
internal sealed class PickleTuple
{
    public PickleTuple(object?[] items) => Items = items;
    public object?[] Items { get; }
    public int Count => Items.Length;
    public object? this[int i] => Items[i];
}

/// <summary>An insertion-ordered Python dict (also used for OrderedDict). Keys are compared by value.</summary>
internal sealed class PickleDict
{
    private readonly List<KeyValuePair<object?, object?>> _entries = new();
    private readonly Dictionary<object, int> _index = new(KeyComparer.Instance);
    private int _nullKeyIndex = -1;

    /// <summary>Instance attributes set by BUILD (e.g. an OrderedDict's <c>_metadata</c>).</summary>
    public PickleDict? Attributes { get; set; }

    public int Count => _entries.Count;
    public IReadOnlyList<KeyValuePair<object?, object?>> Entries => _entries;

    public void Set(object? key, object? value)
    {
        if (key is null)
        {
            if (_nullKeyIndex >= 0) _entries[_nullKeyIndex] = new(key, value);
            else { _nullKeyIndex = _entries.Count; _entries.Add(new(key, value)); }
            return;
        }
        if (_index.TryGetValue(key, out var at)) _entries[at] = new(key, value);
        else { _index[key] = _entries.Count; _entries.Add(new(key, value)); }
    }

    public bool TryGet(string key, out object? value)
    {
        if (_index.TryGetValue(key, out var at)) { value = _entries[at].Value; return true; }
        value = null;
        return false;
    }

    public object? GetOrNull(string key) => TryGet(key, out var v) ? v : null;

    /// <summary>Value equality for the key types a pickle can hold (strings, integers, tuples of those...).</summary>
    private sealed class KeyComparer : IEqualityComparer<object>
    {
        public static readonly KeyComparer Instance = new();
        public new bool Equals(object? x, object? y)
        {
            if (x is PickleTuple a && y is PickleTuple b)
                return a.Count == b.Count && a.Items.Zip(b.Items).All(p => p.First is null ? p.Second is null : p.Second is not null && Equals(p.First, p.Second));
            if (x is long or int or bool && y is long or int or bool) return Convert.ToInt64(x) == Convert.ToInt64(y);
            return object.Equals(x, y);
        }

        public int GetHashCode(object obj) => obj switch
        {
            PickleTuple t => t.Items.Aggregate(17, (h, i) => h * 31 + (i is null ? 0 : GetHashCode(i))),
            int or long or bool => Convert.ToInt64(obj).GetHashCode(),
            _ => obj.GetHashCode(),
        };
    }
}

/// <summary>A Python set/frozenset (kept as a list of its items).</summary>
internal sealed class PickleSet
{
    public List<object?> Items { get; } = new();
}

/// <summary>A reference to an allow-listed global (class or function), as <c>module.name</c>.</summary>
internal sealed class PickleGlobal
{
    public PickleGlobal(string module, string name, GlobalKind kind)
    {
        Module = module;
        Name = name;
        Kind = kind;
    }

    public string Module { get; }
    public string Name { get; }
    public GlobalKind Kind { get; }
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>What an allow-listed global is allowed to do when the pickle "calls" it.</summary>
internal enum GlobalKind
{
    OrderedDict,
    Set,
    FrozenSet,
    TorchSize,
    TorchDevice,
    RebuildTensorV2,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    Reconstructor,
    /// <summary>A storage class (e.g. torch.FloatStorage); only ever referenced from persistent ids.</summary>
    StorageType,
    /// <summary>A class whose instances become inert <see cref="PickleObject"/> records (nn.Module subclasses...).</summary>
    ModuleClass,
    /// <summary>A type used only as a marker (torch.Tensor, nn.Parameter, builtins.object, torch dtypes).</summary>
    Marker,
}

/// <summary>An instance of an allow-listed class, rebuilt as a record: class name, constructor args, BUILD state.</summary>
internal sealed class PickleObject
{
    public PickleObject(PickleGlobal type, object?[] args)
    {
        Type = type;
        Args = args;
    }

    public PickleGlobal Type { get; }
    public object?[] Args { get; }

    /// <summary>The state passed to BUILD: for nn.Module objects, the instance <c>__dict__</c>.</summary>
    public object? State { get; set; }

    public PickleDict? StateDict => State switch
    {
        PickleDict d => d,
        PickleTuple { Count: 2 } t when t[0] is PickleDict d => d,
        _ => null,
    };
}

/// <summary>A storage named by a persistent id; its bytes are read only when a tensor needs them.</summary>
internal sealed class StorageRef
{
    public StorageRef(string key, torch.ScalarType dtype, string location, long numel)
    {
        Key = key;
        DType = dtype;
        Location = location;
        Numel = numel;
    }

    public string Key { get; }
    public torch.ScalarType DType { get; }
    public string Location { get; }

    /// <summary>Number of elements of the storage as recorded in the pickle.</summary>
    public long Numel { get; }

    /// <summary>Legacy (pre-zip) format views: element offset into the root storage named by <see cref="Key"/>.</summary>
    public long ViewOffset { get; init; }
}

/// <summary>A tensor described by the pickle (storage + offset + size + stride); data is materialised on demand.</summary>
internal sealed class TensorStub
{
    public TensorStub(StorageRef storage, long offset, long[] size, long[] stride, bool requiresGrad)
    {
        Storage = storage;
        Offset = offset;
        Size = size;
        Stride = stride;
        RequiresGrad = requiresGrad;
    }

    public StorageRef Storage { get; }
    public long Offset { get; }
    public long[] Size { get; }
    public long[] Stride { get; }
    public bool RequiresGrad { get; }
    public bool IsParameter { get; set; }
    public torch.ScalarType DType => Storage.DType;
    public long Numel => Size.Aggregate(1L, (a, b) => a * b);

    /// <summary>Identity of the underlying data, so that one tensor shared under several names is counted once.</summary>
    public string DataIdentity => $"{Storage.Key}@{Storage.ViewOffset + Offset}:{string.Join(",", Size)}:{string.Join(",", Stride)}";
}
