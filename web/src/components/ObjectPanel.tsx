// A side panel of objects that can be dragged into an ObjectField: each item
// carries its name as dataTransfer text (and a typed copy of it).

import { dragType, type ObjectKind } from './objectKinds.ts';

export interface PanelItem {
  name: string;
  detail?: string;
  danger?: boolean;
}

export function ObjectList({ title, kind, items, open = true }: { title: string; kind: ObjectKind; items: PanelItem[]; open?: boolean }) {
  return (
    <details class="object-list" open={open}>
      <summary>
        {title} <span class="count">({items.length})</span>
      </summary>
      <ul>
        {items.length === 0 ? <li class="muted">None defined.</li> : null}
        {items.map((it) => (
          <li
            key={it.name}
            class={`draggable${it.danger ? ' danger' : ''}`}
            draggable
            data-testid={`object-${kind}-${it.name}`}
            title={`Drag ${it.name} into a field`}
            onDragStart={(e) => {
              if (!e.dataTransfer) return;
              e.dataTransfer.setData('text/plain', it.name);
              e.dataTransfer.setData(dragType(kind), it.name);
              e.dataTransfer.effectAllowed = 'copy';
            }}
          >
            <span class="grip" aria-hidden="true">
              ⠿
            </span>
            <span class="obj-name">{it.name}</span>
            {it.detail ? <span class="obj-detail">{it.detail}</span> : null}
          </li>
        ))}
      </ul>
    </details>
  );
}
